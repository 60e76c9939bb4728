// Reading the node's REST API and following its event stream (/v1/stream).

export const EVENT_TYPES = [
  "enrolled", "file_url", "configured", "check_in", "rejoined", "quorum", "close",
  "merge_report", "refusal", "agreement", "conflict", "finished", "ended", "node_status",
  "training_state", "metrics",
];

// The training this page shows: `?training=NAME` in the page's address (default: "default").
export const TRAINING = new URLSearchParams(location.search).get("training") || "default";

// `path` of the training this page shows (the default training needs no parameter).
export function ofTraining(path) {
  if (TRAINING === "default") return path;
  return `${path}${path.includes("?") ? "&" : "?"}training=${encodeURIComponent(TRAINING)}`;
}

export async function getJson(path) {
  const response = await fetch(path, { cache: "no-store" });
  if (!response.ok) throw new Error(`${path} answered ${response.status}`);
  return response.json();
}

// Every metrics document the node holds from `cursor` on, page by page.
export async function metricsSince(cursor) {
  const documents = [];
  for (let page = 0; page < 1000; page++) {
    const body = await getJson(ofTraining(`/v1/metrics?since=${cursor}`));
    documents.push(...body.documents);
    cursor = body.next;
    if (cursor >= body.end || body.documents.length === 0) break;
  }
  return { documents, cursor };
}

// The browser reconnects by itself (and sends Last-Event-ID, so nothing recent is missed).
export function follow(onEvent, onConnection) {
  const source = new EventSource(ofTraining("/v1/stream"));
  source.onopen = () => onConnection(true);
  source.onerror = () => onConnection(false);
  for (const type of EVENT_TYPES) {
    source.addEventListener(type, (message) => onEvent(type, JSON.parse(message.data)));
  }
  return source;
}
