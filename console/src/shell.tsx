// The signed-in frame: navigation, who is signed in, and the page routes.
import { Link, Route, Router, Switch, useRoute } from "wouter";
import { KeyScope } from "./api.js";
import { Commands } from "./pages/commands.js";
import { Device } from "./pages/device.js";
import { Devices } from "./pages/devices.js";
import { Events } from "./pages/events.js";
import { Keys } from "./pages/keys.js";
import { Machines } from "./pages/machines.js";
import { Overview } from "./pages/overview.js";
import { Releases } from "./pages/releases.js";
import { useSession } from "./session.js";
import { Empty, Page } from "./ui.js";

const pages = [
  ["/", "Overview"],
  ["/devices", "Devices"],
  ["/commands", "Commands"],
  ["/releases", "Releases"],
  ["/events", "Events"],
  ["/machines", "Machines"],
  ["/keys", "Keys"],
] as const;

function NavLink({ href, label }: { href: string; label: string }) {
  const [exact] = useRoute(href);
  const [nested] = useRoute(`${href}/*`);
  const active = exact || (href !== "/" && nested);
  return (
    <Link href={href} aria-current={active ? "page" : undefined}>
      {label}
    </Link>
  );
}

export function Shell() {
  const session = useSession();
  return (
    <Router base="/console">
      <a className="skip" href="#main">
        Skip to content
      </a>
      <header className="top">
        <span className="brand">fleetbeat</span>
        <nav aria-label="Pages">
          {pages.map(([href, label]) => (
            <NavLink key={href} href={href} label={label} />
          ))}
        </nav>
        <div className="who">
          <span title={`key ${session.key.id}`}>
            {session.key.name} · {session.key.scope === KeyScope.ADMIN ? "admin" : "read only"}
          </span>
          <button type="button" onClick={() => session.signOut()}>
            Sign out
          </button>
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        <Switch>
          <Route path="/" component={Overview} />
          <Route path="/devices" component={Devices} />
          <Route path="/devices/:id">{(params) => <Device deviceId={decodeURIComponent(params.id)} />}</Route>
          <Route path="/commands" component={Commands} />
          <Route path="/releases" component={Releases} />
          <Route path="/events" component={Events} />
          <Route path="/machines" component={Machines} />
          <Route path="/keys" component={Keys} />
          <Route>
            <Page title="Not found">
              <Empty>
                There is no such page. <Link href="/">Go to the overview.</Link>
              </Empty>
            </Page>
          </Route>
        </Switch>
      </main>
    </Router>
  );
}
