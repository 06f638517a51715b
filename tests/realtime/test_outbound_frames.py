"""The fan-out's frames, built once per event (chat/realtime/outbound.text_frame), are what a
WebSocket client reads: parsed here by the ``websockets`` library's own frame reader, at the
sizes where the length encoding changes (RFC 6455 §5.2)."""
from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from websockets.frames import Frame, Opcode
from websockets.streams import StreamReader

from chat.realtime.outbound import text_frame


def parse_client_side(data: bytes) -> Frame:
    reader = StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    parser = Frame.parse(reader.read_exact, mask=False)  # a client reads unmasked frames
    try:
        next(parser)
    except StopIteration as done:
        return done.value
    raise AssertionError("the frame is incomplete")


@given(st.sampled_from([0, 1, 125, 126, 127, 65535, 65536, 70000]).flatmap(
    lambda size: st.binary(min_size=size, max_size=size)))
def test_a_built_frame_is_one_final_unmasked_text_frame_of_the_payload(payload):
    frame = parse_client_side(text_frame(payload))
    assert frame.opcode is Opcode.TEXT and frame.fin and frame.data == payload
    assert not (frame.rsv1 or frame.rsv2 or frame.rsv3)


def test_the_frame_is_built_once_per_event_and_not_confused_between_events():
    first, second = "é".encode() * 3, b"\xc3\xa9" * 3  # equal bytes, distinct objects
    frame = text_frame(first)
    assert text_frame(first) is frame  # every socket of the event gets the same bytes
    assert text_frame(second) == frame and text_frame(b"other") != frame
