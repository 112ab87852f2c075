"""Nexus Repository 3 stand-in: REST v1 under ``/service/rest/v1`` and downloads under ``/repository``."""

from ferry.sandbox.nexus.app import NexusApp

__all__ = ["NexusApp"]
