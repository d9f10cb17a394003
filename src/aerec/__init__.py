"""aerec: autoencoder recommenders with learned structure.

Data flows one way: ``data`` -> ``structure`` -> ``models`` -> ``evaluate``
-> ``experiment`` -> ``report``. Lower layers never import higher ones.
"""

__version__ = "0.1.0"

from aerec.errors import AerecError, DataError

__all__ = ["AerecError", "DataError", "__version__"]
