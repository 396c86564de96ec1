// A journey test case (workflows/*.test.json) from a scenario and what the simulator did.
import type { ScenarioEvent, Simulation } from '../api';

export function buildCase(name: string, contact: { id: string; attributes: Record<string, unknown> }, events: ScenarioEvent[], sim: Simulation) {
  return {
    name,
    contact,
    events,
    expect: {
      sends: sim.sends.map((s) => ({ node: s.node, channel: s.channel, at: s.offset })),
      runs: sim.runs.map((r) => {
        const run: Record<string, unknown> = { path: r.path };
        if (['completed', 'exited', 'waiting'].includes(r.status)) {
          run.end = r.node ? { status: r.status, node: r.node } : { status: r.status };
        }
        run.converted = r.converted;
        if (r.variant) run.variant = r.variant;
        return run;
      }),
    },
  };
}
