"""The cluster inventory: load one YAML file, validate it, build the typed model."""

from trainbed.inventory.load import InventoryError, LoadResult, load_inventory
from trainbed.inventory.model import Inventory

__all__ = ["Inventory", "InventoryError", "LoadResult", "load_inventory"]
