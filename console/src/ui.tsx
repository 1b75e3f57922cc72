// The console's small shared pieces: times, numbers, errors, empty states, paging,
// confirmation dialogs, write-only controls.
import type { Timestamp } from "@bufbuild/protobuf/wkt";
import { useEffect, useRef, useState, type ReactNode } from "react";
import { describeError } from "./api.js";
import { formatAbsolute, formatCompact, formatCount, formatRelative, toDate, type Count } from "./format.js";
import { useSession } from "./session.js";

/** Re-renders every `intervalMs` so relative times stay true. */
export function useNow(intervalMs = 15_000): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const timer = window.setInterval(() => setNow(Date.now()), intervalMs);
    return () => window.clearInterval(timer);
  }, [intervalMs]);
  return now;
}

/** A time relative to now, in the viewer's zone; the absolute value on hover and for screen readers. */
export function Time({ value, never = "never" }: { value: Timestamp | Date | undefined; never?: string }) {
  const now = useNow();
  const date = value instanceof Date ? value : toDate(value);
  if (date === undefined) return <span className="muted">{never}</span>;
  const absolute = formatAbsolute(date);
  return (
    <time dateTime={date.toISOString()} title={absolute} aria-label={absolute}>
      {formatRelative(date, now)}
    </time>
  );
}

/** A count; compact ("1.2M") when asked, with the exact value on hover. */
export function Num({ value, compact = false }: { value: Count; compact?: boolean }) {
  const exact = formatCount(value);
  return compact ? <span title={exact}>{formatCompact(value)}</span> : <span>{exact}</span>;
}

export function ErrorNote({ error, what }: { error: unknown; what?: string }) {
  if (error === null || error === undefined) return null;
  return (
    <p className="error" role="alert">
      {what !== undefined ? `${what}: ` : ""}
      {describeError(error)}
    </p>
  );
}

export function Empty({ children }: { children: ReactNode }) {
  return <p className="empty">{children}</p>;
}

export function Loading({ what = "Loading" }: { what?: string }) {
  return (
    <p className="muted" role="status">
      {what}…
    </p>
  );
}

export function Page({ title, actions, children }: { title: string; actions?: ReactNode; children: ReactNode }) {
  useEffect(() => {
    document.title = `${title} · fleetbeat`;
  }, [title]);
  return (
    <section className="page" aria-labelledby="page-title">
      <header className="page-head">
        <h1 id="page-title">{title}</h1>
        {actions !== undefined ? <div className="actions">{actions}</div> : null}
      </header>
      {children}
    </section>
  );
}

/** Renders its children only for a key that may write. */
export function WriteOnly({ children }: { children: ReactNode }) {
  return useSession().canWrite ? <>{children}</> : null;
}

/** Previous / next over a server's page tokens: the tokens of the pages seen are kept on a stack. */
export function usePaging(resetOn: string) {
  const [state, setState] = useState<{ stack: string[]; token: string }>({ stack: [], token: "" });
  useEffect(() => setState({ stack: [], token: "" }), [resetOn]);
  return {
    token: state.token,
    page: state.stack.length + 1,
    next(nextToken: string) {
      setState((s) => ({ stack: [...s.stack, s.token], token: nextToken }));
    },
    previous() {
      setState((s) => (s.stack.length === 0 ? s : { stack: s.stack.slice(0, -1), token: s.stack[s.stack.length - 1] ?? "" }));
    },
    hasPrevious: state.stack.length > 0,
  };
}

export function Pager({ paging, nextToken, label }: { paging: ReturnType<typeof usePaging>; nextToken: string | undefined; label: string }) {
  return (
    <nav className="pager" aria-label={`${label} pages`}>
      <button type="button" onClick={paging.previous} disabled={!paging.hasPrevious}>
        ← Previous
      </button>
      <span>Page {paging.page}</span>
      <button type="button" onClick={() => nextToken && paging.next(nextToken)} disabled={!nextToken}>
        Next →
      </button>
    </nav>
  );
}

/**
 * A modal confirmation (the native <dialog>: focus is trapped and Escape cancels).
 * `confirmText`, when given, must be typed before the action is allowed.
 */
export function ConfirmDialog(props: {
  open: boolean;
  title: string;
  children: ReactNode;
  action: string;
  confirmText?: string;
  busy?: boolean;
  onConfirm: () => void;
  onCancel: () => void;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  const [typed, setTyped] = useState("");
  useEffect(() => {
    const dialog = ref.current;
    if (dialog === null) return;
    if (props.open && !dialog.open) {
      setTyped("");
      dialog.showModal();
    } else if (!props.open && dialog.open) dialog.close();
  }, [props.open]);
  const allowed = props.confirmText === undefined || typed === props.confirmText;
  return (
    <dialog ref={ref} onCancel={props.onCancel} aria-labelledby="confirm-title">
      <form
        method="dialog"
        onSubmit={(event) => {
          event.preventDefault();
          if (allowed) props.onConfirm();
        }}
      >
        <h2 id="confirm-title">{props.title}</h2>
        {props.children}
        {props.confirmText !== undefined ? (
          <label>
            Type <code>{props.confirmText}</code> to confirm
            <input value={typed} onChange={(e) => setTyped(e.target.value)} autoComplete="off" spellCheck={false} />
          </label>
        ) : null}
        <div className="dialog-actions">
          <button type="button" onClick={props.onCancel}>
            Cancel
          </button>
          <button type="submit" className="danger" disabled={!allowed || props.busy === true}>
            {props.busy === true ? "Working…" : props.action}
          </button>
        </div>
      </form>
    </dialog>
  );
}

export function CopyButton({ text, label = "Copy" }: { text: string; label?: string }) {
  const [copied, setCopied] = useState<"no" | "yes" | "failed">("no");
  return (
    <button
      type="button"
      onClick={() => {
        navigator.clipboard.writeText(text).then(
          () => setCopied("yes"),
          () => setCopied("failed"),
        );
      }}
    >
      {copied === "yes" ? "Copied" : copied === "failed" ? "Copy failed: select and copy by hand" : label}
    </button>
  );
}

/** Saves `data` as a file download (the browser's own save, no server round trip). */
export function download(name: string, parts: BlobPart[], type: string): void {
  const url = URL.createObjectURL(new Blob(parts, { type }));
  const link = document.createElement("a");
  link.href = url;
  link.download = name;
  document.body.append(link);
  link.click();
  link.remove();
  window.setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
