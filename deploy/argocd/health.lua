-- Argo CD health of the cims.dev resources (ImageScan, ClusterScanPolicy), from their status
-- conditions. Install the same script under both keys of argocd-cm:
--   resource.customizations.health.cims.dev_ImageScan
--   resource.customizations.health.cims.dev_ClusterScanPolicy   (docs/gitops.md)
hs = {status = "Progressing", message = "waiting for the operator"}
if obj.kind == "ClusterScanPolicy" and obj.spec ~= nil and obj.spec.suspend == true then
  hs.status = "Suspended"
  hs.message = "spec.suspend is true"
  return hs
end
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

if obj.kind == "ClusterScanPolicy" then
  local compliant = cond["Compliant"]
  if ready ~= nil and ready.reason == "InvalidSpec" then
    hs.status = "Degraded"
    hs.message = ready.message
  elseif compliant ~= nil and compliant.reason == "ImagesFailing" then
    hs.status = "Degraded"
    hs.message = compliant.message
  elseif ready == nil or ready.status ~= "True" then
    hs.message = ready and ready.message or "not evaluated yet"
  elseif compliant ~= nil and compliant.status == "True" then
    hs.status = "Healthy"
    hs.message = compliant.message
  else
    hs.status = "Degraded"
    hs.message = compliant and compliant.message or "not compliant"
  end
  return hs
end

-- ImageScan
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
