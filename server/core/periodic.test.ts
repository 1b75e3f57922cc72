// PeriodicJob: rounds only while this process is the leader, never two at once,
// the round in flight aborted on lost leadership and on stop. The leadership
// here is a fake (a LeadershipState the test sets by hand); the real ones are
// tested in server/store/postgres/leadership.test.ts and test/replicas.postgres.test.ts.
import { afterEach, expect, it } from "vitest";
import { LeadershipState, soleLeadership } from "./leadership.js";
import { PeriodicJob } from "./periodic.js";

/** A fake leadership: a LeadershipState the test switches. */
function fakeLeadership(leader: boolean): LeadershipState {
  const state = new LeadershipState();
  state.set(leader, "test");
  return state;
}

const jobs: PeriodicJob[] = [];
afterEach(async () => {
  await Promise.all(jobs.splice(0).map((job) => job.stop()));
});

function job(options: Partial<ConstructorParameters<typeof PeriodicJob>[0]>, work: (signal: AbortSignal) => Promise<unknown>): PeriodicJob {
  const made = new PeriodicJob({ name: "test", everyMs: 20, leadership: soleLeadership, ...options }, work);
  jobs.push(made);
  return made;
}

async function until(condition: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

it("runs rounds only while this process is the leader; a process that is not runs none", async () => {
  const rounds = { leader: 0, follower: 0 };
  const named: string[] = [];
  job({ leadership: fakeLeadership(true), onRound: (name) => named.push(name), name: "leader-job" }, async () => rounds.leader++).start();
  job({ leadership: fakeLeadership(false), onRound: (name) => named.push(name), runAtStart: true }, async () => rounds.follower++).start();
  // Both jobs have the same interval: by the time the leader's ran five rounds, the other had as many chances.
  await until(() => rounds.leader >= 5, "five rounds on the leader");
  expect(rounds.follower).toBe(0);
  expect(new Set(named)).toEqual(new Set(["leader-job"]));
});

it("a process that becomes the leader starts running rounds; runAtStart runs one at once", async () => {
  const leadership = fakeLeadership(false);
  let rounds = 0;
  job({ leadership, everyMs: 60_000, runAtStart: true }, async () => rounds++).start();
  expect(rounds).toBe(0);
  leadership.set(true, "test");
  // The interval is a minute: only the start-of-leadership round can have run.
  await until(() => rounds === 1, "the round at the start of the leadership");
});

it("losing the leadership aborts the round in flight, and no new round starts", async () => {
  const leadership = fakeLeadership(true);
  let rounds = 0;
  let aborted = 0;
  const periodic = job({ leadership, everyMs: 10 }, async (signal) => {
    rounds++;
    await new Promise<void>((resolve) => signal.addEventListener("abort", () => resolve(), { once: true }));
    aborted++;
  });
  periodic.start();
  await until(() => rounds === 1, "a round in flight");
  leadership.set(false, "test");
  await until(() => aborted === 1, "the round aborted");
  // A round that would start now must wait for the leadership: tick() answers at once and runs nothing.
  await periodic.tick();
  expect(rounds).toBe(1);
});

it("never runs two rounds at once; tick() during a round answers that round", async () => {
  let inFlight = 0;
  let most = 0;
  let rounds = 0;
  let release: () => void = () => undefined;
  const periodic = job({ everyMs: 5 }, async () => {
    rounds++;
    inFlight++;
    most = Math.max(most, inFlight);
    await new Promise<void>((resolve) => (release = resolve));
    inFlight--;
  });
  periodic.start();
  await until(() => rounds === 1, "the first round");
  // The interval's ticks go the same way as these: each answers the round in flight.
  const during = periodic.tick();
  expect(periodic.tick()).toBe(during);
  expect(rounds).toBe(1);
  release();
  await during;
  await until(() => rounds >= 2, "the next round");
  release();
  expect(most).toBe(1);
});

it("stop() aborts the round in flight, waits for it, and no round follows; a disabled job never runs", async () => {
  let finished = false;
  let rounds = 0;
  const periodic = job({ everyMs: 10 }, async (signal) => {
    rounds++;
    await new Promise<void>((resolve) => signal.addEventListener("abort", () => resolve(), { once: true }));
    finished = true;
  });
  periodic.start();
  await until(() => rounds === 1, "a round in flight");
  await periodic.stop();
  expect(finished).toBe(true);
  await periodic.tick();
  expect(rounds).toBe(1);

  let disabledRounds = 0;
  const disabled = job({ enabled: false, runAtStart: true, everyMs: 5 }, async () => disabledRounds++);
  disabled.start();
  await disabled.tick();
  expect(disabledRounds).toBe(0);
});
