"""The Kubernetes layer: the ImageScan resource, Job and status builders, kopf handlers.

Only this package imports kopf or kubernetes; it translates between Kubernetes objects and
the engine and never holds scanning or correlation logic itself.
"""
