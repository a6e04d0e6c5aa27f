import { execFile } from 'node:child_process';

/**
 * sd_notify for the systemd unit (image/securepbx.service: Type=notify,
 * NotifyAccess=all, WatchdogSec). Node has no AF_UNIX datagram socket, so the
 * messages go through systemd-notify, which waits for systemd to take them
 * (a barrier) before it exits. No --pid: under `pbx boot` the supervisor is
 * the main PID and this process its child (NotifyAccess=all). Outside systemd (NOTIFY_SOCKET unset) every
 * call is a no-op.
 */
export interface Notifier {
  ready(): void;
  /** Ping the watchdog every WATCHDOG_USEC / 2 from the event loop: a stuck loop misses its pings. */
  startWatchdog(): { stop(): void };
}

export function systemdNotifier(env: NodeJS.ProcessEnv = process.env, run: (args: string[]) => void = defaultRun): Notifier {
  const active = (): boolean => typeof env.NOTIFY_SOCKET === 'string' && env.NOTIFY_SOCKET !== '';
  return {
    ready: () => { if (active()) run(['READY=1', 'STATUS=SIP and admin answering']); },
    startWatchdog: () => {
      const usec = Number(env.WATCHDOG_USEC);
      if (!active() || !Number.isFinite(usec) || usec <= 0) return { stop: () => {} };
      const every = Math.max(500, Math.floor(usec / 2000));
      const t = setInterval(() => run(['WATCHDOG=1']), every);
      t.unref();
      return { stop: () => clearInterval(t) };
    },
  };
}

function defaultRun(args: string[]): void {
  execFile('systemd-notify', args, { timeout: 5_000 }, () => { /* a lost ping shows as a watchdog restart, which is the point */ });
}

export const sdNotify: Notifier = systemdNotifier();
