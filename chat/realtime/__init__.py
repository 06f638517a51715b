"""Real-time delivery (docs/realtime.md).

* ``hub``: the process-local stream hub: reads released events from the outbox, fans them out
  to this process's sockets and streams, each event encoded once per audience;
* ``codec``: frames on the wire (events, replies, commands);
* ``access``: who may subscribe to what, and which conversations a caller may touch;
* ``replay``: the catch-up query behind ``resume``, ``Last-Event-ID`` and long-poll;
* ``control``: channel-layer control messages (membership changes, forced closes, typing);
* ``codes``: WebSocket close codes.
"""
