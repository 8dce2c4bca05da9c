"""What xAI's video API accepts and charges, in one place: for the generator that calls it and the emulator
that stands in for it, so the two cannot drift apart.
"""

from xai_sdk.types.video import VideoAspectRatioMap, VideoResolutionMap

PRICE_PER_SECOND_USD: dict[str, float] = {"480p": 0.08, "720p": 0.14, "1080p": 0.25}  # grok-imagine-video-1.5
PRICE_PER_IMAGE_USD = 0.01  # each input image: the first frame, and a pinned last frame
MAX_PROMPT_CHARS = 4096
MAX_IMAGE_BYTES = 10 << 20
MAX_MESSAGE_BYTES = 20 << 20  # the SDK's max_send_message_length: both data: URLs must fit in one request
RESOLUTION_NAMES = {proto: name for name, proto in VideoResolutionMap.items()}  # proto enum -> "720p"
ASPECT_RATIO_NAMES = {proto: name for name, proto in VideoAspectRatioMap.items()}  # proto enum -> "16:9"
