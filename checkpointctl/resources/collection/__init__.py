"""The data-collection resource: the switches each checkpoint container reads."""
