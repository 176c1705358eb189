"""Upload a bundle from a local file, hashing and storing it as a stream, with progress."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from ota.errors import DomainError
from signing.services.bundles import BundleSpec, bundle_ingest_file, bundle_publish


class Progress:
    """A one-line progress bar on stderr (each byte is read once, hashed as it is stored)."""

    def __init__(self, total: int, stream, width: int = 30):
        self.total, self.done, self.stream, self.width = max(total, 1), 0, stream, width
        self.shown = -1

    def __call__(self, count: int) -> None:
        self.done += count
        percent = min(100, self.done * 100 // self.total)
        if percent != self.shown:
            self.shown = percent
            filled = self.width * percent // 100
            bar = "#" * filled + "." * (self.width - filled)
            self.stream.write(f"\r[{bar}] {percent:3d}%", ending="")
            self.stream.flush()


class ProgressReader:
    """Counts every byte read from the file, whoever reads it."""

    def __init__(self, handle, progress: Progress):
        self.handle, self.progress = handle, progress

    def read(self, size: int = -1) -> bytes:
        block = self.handle.read(size)
        self.progress(len(block))
        return block

    def __getattr__(self, name):
        return getattr(self.handle, name)


class Command(BaseCommand):
    help = "Upload PATH as a bundle; --publish also adds it to the Image repository."

    def create_parser(self, prog_name, subcommand, **kwargs):
        # --version names the bundle's version here, not Django's.
        return super().create_parser(prog_name, subcommand, conflict_handler="resolve", **kwargs)

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path)
        parser.add_argument("--target-path", help="TUF target path (default: HARDWARE_ID/NAME)")
        parser.add_argument("--hardware-id", required=True)
        parser.add_argument("--version", dest="bundle_version", required=True)
        parser.add_argument("--release-counter", type=int, required=True)
        parser.add_argument("--publish", action="store_true")

    def handle(
        self,
        *args,
        file: Path,
        target_path,
        hardware_id,
        bundle_version,
        release_counter,
        publish,
        **options,
    ):
        if not file.is_file():
            raise CommandError(f"{file} is not a file")
        spec = BundleSpec(
            path=target_path or f"{hardware_id}/{file.name}",
            hardware_id=hardware_id,
            version=bundle_version,
            release_counter=release_counter,
        )
        progress = Progress(file.stat().st_size, self.stderr)
        try:
            with file.open("rb") as handle:
                reader = ProgressReader(handle, progress)
                bundle = bundle_ingest_file(spec=spec, stream=reader, actor=None)
            self.stderr.write("")
            if publish:
                bundle, version = bundle_publish(bundle=bundle, actor=None)
                self.stdout.write(f"Published {bundle.path} in Image targets version {version}.")
        except DomainError as exc:
            raise CommandError(f"{exc.message} {exc.detail or ''}".strip()) from None
        self.stdout.write(
            f"{bundle.path}: {bundle.length} bytes, sha256 {bundle.sha256}, status {bundle.status}"
        )
