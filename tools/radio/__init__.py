"""Virtual LE radio: faithful bumble controllers sharing one link."""
from .radio import ControllerInfo, Radio, public_address_for

__all__ = ['ControllerInfo', 'Radio', 'public_address_for']
