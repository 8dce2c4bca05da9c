"""An IO manager that keeps each asset's record as JSON in the ``MediaStore``.

Records live at ``records/<stage>/<partition>.json``, beside the media they describe, so every stage can be
re-run alone and an S3 deployment keeps nothing on local disk. The stage is the asset key's last part: the store's
layout does not depend on the pipeline's key prefix (each pipeline has its own store). Every run uses this IO
manager, so it is also where a run enters its process's own temporary folder (see ``housekeeping``): what a step
writes with ``tempfile`` or ffmpeg lands there and is removed with it, even after a ``kill -9``.
"""

from dagster import ConfigurableIOManager, InitResourceContext, InputContext, OutputContext
from pydantic import BaseModel

from ..housekeeping import enter_process_temp_dir, leave_process_temp_dir
from .store import MediaStore


def record_key(asset: str, partition: str) -> str:
    """The store key of an asset's record for one campaign."""
    return f"records/{asset}/{partition}.json"


def read_record(store: MediaStore, asset: str, partition: str, model: type[BaseModel]) -> BaseModel:
    """An asset's record for one campaign, as the IO manager stored it; ``KeyError`` when there is none."""
    return model.model_validate_json(store.get_bytes(record_key(asset, partition)))


class StoreRecordIOManager(ConfigurableIOManager):
    """Persists pydantic records in the store; loads them back as the type the consuming asset annotates."""

    store: MediaStore

    def setup_for_execution(self, context: InitResourceContext) -> None:
        enter_process_temp_dir()

    def teardown_after_execution(self, context: InitResourceContext) -> None:
        leave_process_temp_dir()

    def _key(self, context: OutputContext | InputContext) -> str:
        return record_key(context.asset_key.path[-1], context.partition_key)

    def handle_output(self, context: OutputContext, obj: BaseModel) -> None:
        self.store.put_bytes(self._key(context), obj.model_dump_json(indent=1).encode("utf-8"))

    def load_input(self, context: InputContext) -> BaseModel:
        asset = context.asset_key.path[-1]
        try:
            return read_record(self.store, asset, context.partition_key, context.dagster_type.typing_type)
        except KeyError:
            raise KeyError(
                f"campaign {context.partition_key!r}: {asset} has not been materialized yet "
                f"(no {self.store.uri(self._key(context))})"
            ) from None
