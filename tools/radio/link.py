"""The shared virtual air: bumble's LocalLink with connection routing fixed.

bumble's link labels LE ACL data with the sender's *random* address, so a
connection made with public addresses never receives data (the peer looks the
connection up by the address it connected to). Here the data is labelled with
the address the sender's connection really uses.
"""
from __future__ import annotations

import asyncio
import logging

from bumble import core, hci
from bumble.controller import Controller
from bumble.link import LocalLink

logger = logging.getLogger(__name__)


class FaithfulLink(LocalLink):
    def send_acl_data(
        self,
        sender_controller: Controller,
        destination_address: hci.Address,
        transport: core.PhysicalTransport,
        data: bytes,
    ) -> None:
        if transport != core.PhysicalTransport.LE:
            super().send_acl_data(sender_controller, destination_address, transport, data)
            return
        connection = sender_controller.le_connections.get(destination_address)
        if connection is None:
            logger.warning('no LE connection from %s to %s', sender_controller.name,
                           destination_address)
            return
        destination = self.find_le_controller(destination_address)
        if destination is None or destination is sender_controller:
            logger.warning('no controller at %s', destination_address)
            return
        source_address = connection.self_address
        asyncio.get_running_loop().call_soon(
            destination.on_link_acl_data, source_address, transport, data
        )
