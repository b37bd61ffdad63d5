/** One server-sent event: its name and its data (a JSON text for the node's streams). */
export interface SseMessage {
  event: string;
  data: string;
}

/**
 * Server-sent events off a fetch body (text/event-stream): blocks separated
 * by a blank line, `event:` and `data:` fields; comments and ids ignored.
 */
export async function* readSse(body: ReadableStream<Uint8Array>): AsyncGenerator<SseMessage> {
  const decoder = new TextDecoder();
  let buffer = '';
  for await (const chunk of body) {
    buffer += decoder.decode(chunk, { stream: true }).replace(/\r\n?/g, '\n');
    let cut = buffer.indexOf('\n\n');
    while (cut >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      let event = 'message';
      const data: string[] = [];
      for (const line of block.split('\n')) {
        if (line.startsWith('event:')) event = line.slice(6).trim();
        else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
      }
      if (data.length > 0) yield { event, data: data.join('\n') };
      cut = buffer.indexOf('\n\n');
    }
  }
}
