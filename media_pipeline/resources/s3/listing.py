"""ListObjectsV2 without botocore's response parser: the part of a drop-sensor tick that grows with the bucket.

botocore turns each 1,000-key page into dicts through its generic shape parser, ~100-200 ms of CPU a page.
Here each page is a SigV4 presigned GET (signed by the same client, so the same credentials, region and
endpoint) sent through botocore's own HTTP session (same TLS verification and proxies), and only the four
fields a drop listing needs are read from the XML with ElementTree. Pages have the shape boto3's paginator
yields (``Contents`` with ``Key``/``Size``/``LastModified``/``ETag``, ``CommonPrefixes``), so callers can
switch between the two. Errors surface as botocore exceptions, like any other S3 call.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote_plus

from botocore.awsrequest import AWSRequest
from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError
from botocore.httpsession import URLLib3Session

from ..http import describe_url
from .location import parse_timestamp

_NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"
_URL_TTL_SECONDS = 300


def _text(node: ET.Element, tag: str) -> str:
    child = node.find(_NS + tag)
    if child is None:
        child = node.find(tag)  # a server that leaves out the namespace
    return child.text or "" if child is not None else ""


def _items(root: ET.Element, tag: str) -> list[ET.Element]:
    return root.findall(_NS + tag) or root.findall(tag)


def _error(status: int, body: bytes) -> ClientError:
    code, message = str(status), ""
    try:
        root = ET.fromstring(body)
        code, message = _text(root, "Code") or code, _text(root, "Message")
    except ET.ParseError:
        pass
    response = {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": status}}
    return ClientError(response, "ListObjectsV2")  # type: ignore[arg-type]


class FastLister:
    """Pages of ListObjectsV2 for one client; ``requests`` counts the pages fetched."""

    def __init__(self, client: Any, verify: bool | str | None = None) -> None:
        self.client = client
        if verify is None:
            verify = os.environ.get("AWS_CA_BUNDLE") or True
        self.http = URLLib3Session(verify=verify, proxies=client.meta.config.proxies)
        self.requests = 0

    def pages(self, bucket: str, prefix: str, delimiter: str = "", page_size: int = 1000) -> Iterator[dict]:
        """Every page under ``prefix`` as boto3 would yield it (keys URL-decoded, timestamps parsed)."""
        params: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix, "MaxKeys": page_size, "EncodingType": "url"}
        if delimiter:
            params["Delimiter"] = delimiter
        while True:
            url = self.client.generate_presigned_url("list_objects_v2", Params=params, ExpiresIn=_URL_TTL_SECONDS)
            try:
                response = self.http.send(AWSRequest(method="GET", url=url).prepare())
            except BotoCoreError as exc:  # its message and kwargs hold the signed URL: report the endpoint only
                raise EndpointConnectionError(endpoint_url=describe_url(url), error=type(exc).__name__) from None
            self.requests += 1
            if response.status_code != 200:
                raise _error(response.status_code, response.content)
            root = ET.fromstring(response.content)
            yield {
                "Contents": [
                    {
                        "Key": unquote_plus(_text(item, "Key")),
                        "Size": int(_text(item, "Size") or 0),
                        "LastModified": parse_timestamp(_text(item, "LastModified")),
                        "ETag": _text(item, "ETag"),
                    }
                    for item in _items(root, "Contents")
                ],
                "CommonPrefixes": [
                    {"Prefix": unquote_plus(_text(item, "Prefix"))} for item in _items(root, "CommonPrefixes")
                ],
            }
            token = _text(root, "NextContinuationToken")
            if _text(root, "IsTruncated") != "true" or not token:
                return
            params["ContinuationToken"] = token
