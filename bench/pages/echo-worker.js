// A SharedWorker that echoes every message: the floor for one tab <-> SharedWorker round trip.
onconnect = (e) => {
  const port = e.ports[0];
  port.onmessage = (m) => port.postMessage(m.data);
};
