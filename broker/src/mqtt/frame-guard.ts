import type { Socket } from "node:net";

/**
 * Closes a connection as soon as the fixed header of an MQTT packet announces a
 * remaining length above `maxRemainingLength`, before mqtt-packet's parser
 * (which Aedes creates with no size limit) buffers the body. It reads the
 * stream as Aedes does: a 'data' listener beside Aedes's 'readable' one sees
 * each chunk when Aedes reads it, without switching the socket to flowing mode.
 * [MQTT-2.2.3] remaining length is a variable byte integer of at most 4 bytes.
 */
export function guardFrames(
  socket: Socket,
  maxRemainingLength: number,
  onViolation: (reason: "payload_too_large" | "malformed_packet", announced: number) => void,
): void {
  let phase: "type" | "length" | "body" = "type";
  let length = 0;
  let multiplier = 1;
  let lengthBytes = 0;
  let remaining = 0;

  const onData = (chunk: Buffer): void => {
    let i = 0;
    while (i < chunk.length) {
      if (phase === "type") {
        i++;
        phase = "length";
        length = 0;
        multiplier = 1;
        lengthBytes = 0;
        continue;
      }
      if (phase === "length") {
        const byte = chunk[i++] ?? 0;
        length += (byte & 0x7f) * multiplier;
        multiplier *= 128;
        lengthBytes++;
        if (byte & 0x80) {
          if (lengthBytes >= 4) {
            stop("malformed_packet", length);
            return;
          }
          continue;
        }
        if (length > maxRemainingLength) {
          stop("payload_too_large", length);
          return;
        }
        remaining = length;
        phase = remaining === 0 ? "type" : "body";
        continue;
      }
      const skip = Math.min(remaining, chunk.length - i);
      i += skip;
      remaining -= skip;
      if (remaining === 0) phase = "type";
    }
  };

  function stop(reason: "payload_too_large" | "malformed_packet", announced: number): void {
    socket.removeListener("data", onData);
    onViolation(reason, announced);
  }

  socket.on("data", onData);
}
