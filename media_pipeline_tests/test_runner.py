"""What a failed step looks like to the user: its innermost cause, without Dagster's wrappers or temp paths.

Real materializations on a real instance: Dagster wraps an exception in "Error occurred while executing op"
and, after a retry policy gives up, in "Exceeded max_retries"; ``cause_message`` must see through both.
"""

import tempfile
from pathlib import Path

from dagster import Failure, RetryPolicy, asset, materialize

from media_pipeline.media.errors import MediaError
from media_pipeline.runner import cause_message


def _failure_of(instance, fails):
    result = materialize([fails], instance=instance, raise_on_error=False)
    return result.get_step_failure_events()[0].event_specific_data.error


def test_a_retried_error_reads_as_its_cause_with_the_temp_path_cut_to_the_file(instance):
    @asset(retry_policy=RetryPolicy(max_retries=1))
    def fills_the_disk():
        scratch = Path(tempfile.gettempdir()) / "deliverable-x1y2" / "_work" / "stitched.mov"
        raise OSError(28, "No space left on device", str(scratch))

    error = _failure_of(instance, fills_the_disk)
    assert error.message.startswith("Exceeded max_retries of 1")  # what Dagster itself reports
    assert cause_message(error) == "OSError: [Errno 28] No space left on device: 'stitched.mov'"


def test_our_own_errors_read_as_their_text_alone(instance):
    @asset
    def bad_clip():
        raise MediaError("campaign 'c', shot 's1': cannot read media file s1.mp4")

    error = _failure_of(instance, bad_clip)
    assert "Error occurred while executing" in error.message
    assert cause_message(error) == "campaign 'c', shot 's1': cannot read media file s1.mp4"


def test_a_failure_reads_as_its_description(instance):
    @asset
    def refused():
        raise Failure(description="campaign 'c': 1 shot(s) have no clip", allow_retries=False)

    assert cause_message(_failure_of(instance, refused)) == "campaign 'c': 1 shot(s) have no clip"
