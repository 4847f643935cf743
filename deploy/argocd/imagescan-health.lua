-- Argo CD health of a cims.dev ImageScan, from its status phase and conditions.
-- Install: argocd-cm, key resource.customizations.health.cims.dev_ImageScan (docs/gitops.md).
hs = {status = "Progressing", message = "waiting for the operator"}
if obj.status == nil or obj.status.conditions == nil then
  return hs
end
local generation = obj.metadata.generation
if generation ~= nil and obj.status.observedGeneration ~= nil
    and obj.status.observedGeneration < generation then
  hs.message = "the operator has not seen the new spec yet"
  return hs
end
local cond = {}
for _, c in ipairs(obj.status.conditions) do
  cond[c.type] = c
end
local ready = cond["Ready"]
if obj.status.phase == "Failed" then
  hs.status = "Degraded"
  hs.message = ready and ready.message or "the scan failed"
elseif obj.status.phase == "Pending" and ready ~= nil and ready.reason == "Suspended" then
  hs.status = "Suspended"
  hs.message = ready.message
elseif obj.status.phase == "Complete" then
  if cond["Degraded"] ~= nil and cond["Degraded"].status == "True" then
    hs.status = "Degraded"
    hs.message = "a scanner failed: " .. cond["Degraded"].message
  elseif ready ~= nil and ready.status == "True" then
    hs.status = "Healthy"
    hs.message = ready.message
  else
    hs.status = "Degraded"
    hs.message = ready and ready.message or "not ready"
  end
else
  hs.message = ready and ready.message or obj.status.phase
end
return hs
