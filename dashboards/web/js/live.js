// The live connection: the events websocket, a snapshot then every change,
// reconnecting with backoff and resuming from the last version seen.

const MIN_DELAY = 500, MAX_DELAY = 15000;

export class Live {
  /**
   * @param {object} o
   * @param {() => string} o.token the current API token ('' for none)
   * @param {(ev: object) => void} o.onSnapshot
   * @param {(ev: object) => void} o.onEvent
   * @param {(status: object) => void} o.onStatus {state: 'connecting'|'live'|'down', retryAt, since}
   * @param {() => void} o.onAuthFailed called when the socket cannot open and the token is refused
   * @param {() => Promise<number>} o.probe returns the HTTP status of an authenticated read
   */
  constructor(o) {
    this.o = o;
    this.version = 0;
    this.epoch = '';
    this.attempt = 0;
    this.ws = null;
    this.timer = 0;
    this.stopped = false;
    this.downSince = null;
    window.addEventListener('online', () => this.reconnectNow());
  }

  start() { this.stopped = false; this.connect(); }

  /** restart drops the connection and opens a new one now (e.g. new token). */
  reconnectNow() {
    if (this.stopped) return;
    clearTimeout(this.timer);
    if (this.ws) { this.ws.onclose = null; this.ws.close(); this.ws = null; }
    this.attempt = 0;
    this.connect();
  }

  url() {
    const u = new URL('api/v1/events', document.baseURI);
    u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
    if (this.version > 0 && this.epoch) {
      u.searchParams.set('since', String(this.version));
      u.searchParams.set('epoch', this.epoch);
    }
    const t = this.o.token();
    if (t) u.searchParams.set('access_token', t);
    return u.toString();
  }

  connect() {
    this.status('connecting');
    let opened = false;
    const ws = new WebSocket(this.url());
    this.ws = ws;
    ws.onopen = () => {
      opened = true;
      this.attempt = 0;
      // Resuming: live at once (missed events, if any, follow). Otherwise
      // live with the snapshot.
      if (this.version > 0) { this.downSince = null; this.status('live'); }
    };
    ws.onmessage = (m) => {
      let ev;
      try { ev = JSON.parse(m.data); } catch { return; }
      if (ev.type === 'snapshot') {
        this.version = ev.version;
        this.epoch = ev.epoch || '';
        this.downSince = null;
        this.o.onSnapshot(ev);
        this.status('live');
        return;
      }
      if (ev.version <= this.version) return; // already applied
      if (this.version > 0 && ev.version !== this.version + 1) {
        // A gap: resume from what we have.
        this.reconnectNow();
        return;
      }
      this.version = ev.version;
      this.o.onEvent(ev);
      this.status('live');
    };
    ws.onclose = async () => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (this.stopped) return;
      if (!this.downSince) this.downSince = new Date();
      if (!opened) {
        try {
          const st = await this.o.probe();
          if (st === 401 || st === 403) { this.status('down'); this.o.onAuthFailed(); return; }
        } catch { /* the daemon is away: retry */ }
      }
      const delay = Math.min(MAX_DELAY, MIN_DELAY * 2 ** this.attempt) * (0.5 + Math.random() / 2);
      this.attempt++;
      this.retryAt = Date.now() + delay;
      this.status('down');
      this.timer = setTimeout(() => this.connect(), delay);
    };
  }

  status(state) {
    this.state = state;
    this.o.onStatus({ state, retryAt: this.retryAt, downSince: this.downSince, version: this.version });
  }
}
