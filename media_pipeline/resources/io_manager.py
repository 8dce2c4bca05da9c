"""An IO manager that keeps each asset's record as JSON in the ``MediaStore``.

Records live at ``records/<asset>/<partition>.json``, beside the media they describe, so every stage can be
re-run alone and an S3 deployment keeps nothing on local disk.
"""


from dagster import ConfigurableIOManager, InputContext, OutputContext
from pydantic import BaseModel

from .storage import MediaStore


def record_key(asset: str, partition: str) -> str:
    """The store key of an asset's record for one campaign."""
    return f"records/{asset}/{partition}.json"


class StoreRecordIOManager(ConfigurableIOManager):
    """Persists pydantic records in the store; loads them back as the type the consuming asset annotates."""

    store: MediaStore

    def _key(self, context: OutputContext | InputContext) -> str:
        return record_key(context.asset_key.to_user_string(), context.partition_key)

    def handle_output(self, context: OutputContext, obj: BaseModel) -> None:
        self.store.put_bytes(self._key(context), obj.model_dump_json(indent=1).encode("utf-8"))

    def load_input(self, context: InputContext) -> BaseModel:
        model = context.dagster_type.typing_type
        key = self._key(context)
        try:
            data = self.store.get_bytes(key)
        except KeyError:
            raise KeyError(
                f"campaign {context.partition_key!r}: {context.asset_key.to_user_string()} has not been "
                f"materialized yet (no {self.store.uri(key)})"
            ) from None
        return model.model_validate_json(data)
