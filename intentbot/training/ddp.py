"""Lightning's DDP strategy with a bounded rendezvous: a node or process that never joins ends
the run after `timeout_s` with one line saying what to check, not after torch's default 30
minutes of silence (`conf/trainer/ddp.yaml` builds it)."""

from __future__ import annotations

from datetime import timedelta

import torch.distributed
from lightning.pytorch.strategies import DDPStrategy


class RendezvousError(ConnectionError):
    """The processes of a DDP run did not all meet at MASTER_ADDR:MASTER_PORT."""


class BoundedDDPStrategy(DDPStrategy):
    """`DDPStrategy` whose process group (the rendezvous and every collective after it) gives up
    after `timeout_s` seconds; a failed rendezvous is a `RendezvousError` naming the address,
    the world size and what to check."""

    def __init__(self, timeout_s: float = 60.0, **kwargs) -> None:
        if timeout_s <= 0:
            raise ValueError(
                f"trainer.strategy.timeout_s={timeout_s}: give a number of seconds > 0"
            )
        super().__init__(timeout=timedelta(seconds=timeout_s), **kwargs)
        self.timeout_s = timeout_s

    def setup_distributed(self) -> None:
        """Join the process group, turning torch's store and network errors into one line."""
        try:
            super().setup_distributed()
        except torch.distributed.DistError as error:  # DistStoreError, DistNetworkError
            raise RendezvousError(self._explain(error)) from error

    def _explain(self, error: Exception) -> str:
        environment = self.cluster_environment
        address = f"{environment.main_address}:{environment.main_port}" if environment else "?"
        cause = (str(error).strip().splitlines() or [type(error).__name__])[0]
        return (
            f"DDP rendezvous at {address} failed (rank {self.global_rank} of {self.world_size}, "
            f"{cause}); check that every node runs the same command with the same MASTER_ADDR, "
            "MASTER_PORT and WORLD_SIZE and its own NODE_RANK, that node 0 is reachable on that "
            "port, and that all start within trainer.strategy.timeout_s "
            f"({self.timeout_s:g} s)"
        )
