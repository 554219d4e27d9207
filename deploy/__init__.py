"""Deployment configurations: the code location with a chosen executor, and the instance files for Kubernetes
and Docker (see docs/scaling.md)."""
