"""The Wazzup (API v3) messaging provider: its HTTP gateway and its webhook reader."""

from crm_adapters.wazzup.gateway import WazzupGateway
from crm_adapters.wazzup.webhook import read_delivery

__all__ = ["WazzupGateway", "read_delivery"]
