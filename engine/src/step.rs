//! The step function: (journey, run, contact, input, now) → (next run, contact, effects, history).
//!
//! Pure and deterministic: no I/O, no clock but `now`, no randomness but the split's
//! hash. A step runs the journey forward through every node that does not wait, and
//! stops at a wait or an exit. `exit_when` and an event goal are checked on every
//! event; a condition goal after every step. A goal counts only inside its conversion
//! window (`settings.goal.within`, from the run's entry): outside it the run is not
//! marked converted and a goal with `exit` does not end it.

use crate::condition::Scope;
use crate::contact::{Contact, Event};
use crate::journey::{Journey, Runtime};
use crate::nodes::Node;
use crate::nodes::send::Send;
use crate::nodes::wait_until::Target;
use crate::pressure::{self, Behaviour, RecentSend};
use crate::run::{DeliveryResult, DeliveryStatus, Effect, Entry, ExitReason, Input, Outcome, Run, Status, Wait, What};
use crate::workflow::Goal;
use chrono::{DateTime, Utc};
use serde_json::json;

/// Most nodes one step may enter. Validation forbids loops without a wait, so only a
/// bug could reach it; the run then exits instead of spinning.
pub const MAX_NODES_PER_STEP: usize = 1_000;

/// Step `run` with `input` at `now`, with no workspace delivery rules and no earlier
/// sends (the journey's own quiet hours still apply). The scheduler and the simulator
/// use [`step_with`].
pub fn step(journey: &Journey, run: &Run, contact: &Contact, input: Input<'_>, now: DateTime<Utc>) -> Outcome {
    step_with(journey, run, contact, input, now, &pressure::Context::NONE)
}

/// Step `run` with `input` at `now`. `delivery` holds the workspace's quiet hours and
/// frequency caps and the contact's recent marketing sends across all journeys: the
/// send gate's inputs ([`pressure::gate`]).
pub fn step_with(
    journey: &Journey,
    run: &Run,
    contact: &Contact,
    input: Input<'_>,
    now: DateTime<Utc>,
    delivery: &pressure::Context<'_>,
) -> Outcome {
    let mut s = Stepper {
        journey,
        run: run.clone(),
        contact: contact.clone(),
        effects: vec![],
        history: vec![],
        now,
        delivery: *delivery,
        own_sends: vec![],
    };
    if !s.run.status.is_ended() {
        match input {
            Input::Start => s.start(),
            Input::Timer => s.timer(),
            Input::Event(e) => s.event(e),
            Input::Delivery(d) => s.delivery(d),
        }
        s.check_condition_goal();
    }
    Outcome { run: s.run, contact: s.contact, effects: s.effects, history: s.history }
}

struct Stepper<'j> {
    journey: &'j Journey,
    run: Run,
    contact: Contact,
    effects: Vec<Effect>,
    history: Vec<Entry>,
    now: DateTime<Utc>,
    delivery: pressure::Context<'j>,
    /// The marketing messages this step has sent so far (they count towards the caps).
    own_sends: Vec<RecentSend>,
}

impl Stepper<'_> {
    fn log(&mut self, node: Option<&str>, what: What) {
        self.history.push(Entry { at: self.now, node: node.map(str::to_string), what });
    }

    fn start(&mut self) {
        if self.run.status != Status::Active || self.run.node.is_some() {
            return;
        }
        let what = What::Entered { trigger: self.run.trigger.name.clone(), correlation: self.run.correlation.clone() };
        self.log(None, what);
        let first = self.journey.workflow().trigger.next().to_string();
        self.advance(first);
    }

    fn timer(&mut self) {
        let Some(wait) = self.run.wait.clone() else { return };
        if self.now < wait.wake_at() {
            return;
        }
        if let Wait::Delivery { key, since, .. } = wait {
            // Only the outcome moves the run on: look again later.
            self.run.wait = Some(Wait::Delivery { key, since, check_at: self.delivery_check_at(since) });
            return;
        }
        let Some(node_id) = self.run.node.clone() else { return };
        let Some((node, _)) = self.journey.node(&node_id) else { return };
        self.run.wait = None;
        self.run.status = Status::Active;
        match (node, wait) {
            (Node::WaitForEvent(w), Wait::Event { event, .. }) => {
                self.log(Some(&node_id), What::TimedOut { event });
                self.advance(w.timed_out.clone());
            }
            // A wait_until is re-evaluated: the contact's date may have moved meanwhile.
            (Node::WaitUntil(_), _) => self.enter_wait_until(node_id, true),
            (Node::Delay(d), _) => self.advance(d.next.clone()),
            // A send held back by quiet hours or a cap tries again, as the same visit.
            (Node::Send(send), _) => {
                let visit = self.run.visits.get(&node_id).copied().unwrap_or(1);
                if self.send(&node_id, visit, send) {
                    self.advance(send.next.clone());
                }
            }
            _ => {}
        }
    }

    fn event(&mut self, event: &Event) {
        let settings = &self.journey.workflow().settings;
        if let Some(Goal::Event { event: name, conditions, exit, .. }) = &settings.goal
            && self.run.converted_at.is_none()
            && *name == event.name
            && self.journey.goal_counts(self.run.started_at, self.now)
            && conditions.as_ref().is_none_or(|c| c.evaluate(&self.scope(Some(event))))
        {
            self.run.converted_at = Some(self.now);
            self.log(self.run.node.clone().as_deref(), What::Converted { event: Some(event.name.clone()) });
            if *exit {
                return self.end(Status::Exited, Some(ExitReason::Goal));
            }
        }
        let exits = settings.exit_when.iter().any(|m| {
            m.event == event.name && m.conditions.as_ref().is_none_or(|c| c.evaluate(&self.scope(Some(event))))
        });
        if exits {
            return self.end(Status::Exited, Some(ExitReason::ExitWhen { event: event.name.clone() }));
        }
        let Some(Wait::Event { event: awaited, .. }) = &self.run.wait else { return };
        if *awaited != event.name {
            return;
        }
        let Some(node_id) = self.run.node.clone() else { return };
        let Some((Node::WaitForEvent(w), _)) = self.journey.node(&node_id) else { return };
        if w.conditions.as_ref().is_some_and(|c| !c.evaluate(&self.scope(Some(event)))) {
            return;
        }
        self.run.wait = None;
        self.run.status = Status::Active;
        self.run.event = Some(event.clone());
        self.log(Some(&node_id), What::EventReceived { event: event.name.clone() });
        self.advance(w.received.clone());
    }

    /// The outcome of the message the run waits for: on to `next` when it was delivered
    /// (keeping what `save_response` names of a webhook's answer) or skipped for consent,
    /// to `failed` when it was not delivered; still pending, the run waits on.
    fn delivery(&mut self, result: &DeliveryResult) {
        let Some(Wait::Delivery { key, since, .. }) = self.run.wait.clone() else { return };
        if key != result.key {
            return;
        }
        let Some(node_id) = self.run.node.clone() else { return };
        let Some((Node::Send(send), _)) = self.journey.node(&node_id) else { return };
        let next = match result.status {
            DeliveryStatus::Pending => {
                self.run.wait = Some(Wait::Delivery { key, since, check_at: self.delivery_check_at(since) });
                return;
            }
            DeliveryStatus::Sent => {
                let mut saved = Vec::new();
                for (name, pointer) in &send.save_response {
                    let value = result.response.as_ref().and_then(|r| r.pointer(pointer)).cloned();
                    if let Some(value) = value {
                        self.run.data.insert(name.clone(), value);
                        saved.push(name.clone());
                    }
                }
                self.log(Some(&node_id), What::Delivered { key, status: result.http_status, saved });
                send.next.clone()
            }
            // Consent said no at delivery: as a skip at the send, the run carries on.
            DeliveryStatus::Skipped => send.next.clone(),
            // The outbox's own entry (delivery_failed / delivery_unknown) says why.
            DeliveryStatus::Failed | DeliveryStatus::Unknown => {
                send.failed.clone().unwrap_or_else(|| send.next.clone())
            }
        };
        self.run.wait = None;
        self.run.status = Status::Active;
        self.advance(next);
    }

    /// When a run waiting since `since` for a delivery looks again by itself: after a
    /// minute at first, then after as long as it has waited, at most an hour apart.
    fn delivery_check_at(&self, since: DateTime<Utc>) -> DateTime<Utc> {
        let waited = self.now - since;
        self.now + waited.clamp(chrono::TimeDelta::minutes(1), chrono::TimeDelta::hours(1))
    }

    /// A scope over the run's state; `event` overrides the run's last event.
    fn scope<'a>(&'a self, event: Option<&'a Event>) -> Scope<'a> {
        Scope {
            contact: &self.contact,
            trigger: Some(&self.run.trigger),
            event: event.or(self.run.event.as_ref()).or(Some(&self.run.trigger)),
            now: self.now,
            data: Some(&self.run.data),
            history: None,
        }
    }

    fn check_condition_goal(&mut self) {
        let Some(Goal::Condition { condition, exit, .. }) = &self.journey.workflow().settings.goal else { return };
        if self.run.converted_at.is_some()
            || self.run.status == Status::Cancelled
            || !self.journey.goal_counts(self.run.started_at, self.now)
        {
            return;
        }
        if condition.evaluate(&self.scope(None)) {
            self.run.converted_at = Some(self.now);
            self.log(self.run.node.clone().as_deref(), What::Converted { event: None });
            if *exit && !self.run.status.is_ended() {
                self.end(Status::Exited, Some(ExitReason::Goal));
            }
        }
    }

    fn end(&mut self, status: Status, reason: Option<ExitReason>) {
        self.run.status = status;
        self.run.wait = None;
        self.run.ended_at = Some(self.now);
        let what = match reason {
            Some(reason) => What::Exited { reason },
            None => What::Completed,
        };
        self.log(self.run.node.clone().as_deref(), what);
    }

    fn wait(&mut self, node: &str, wait: Wait) {
        let what = match &wait {
            Wait::Timer { until } => What::WaitingUntil { until: *until },
            Wait::Event { event, timeout_at } => {
                What::WaitingForEvent { event: event.clone(), timeout_at: *timeout_at }
            }
            Wait::Delivery { key, .. } => What::WaitingForDelivery { key: key.clone() },
        };
        self.log(Some(node), what);
        self.run.wait = Some(wait);
        self.run.status = Status::Waiting;
    }

    /// Enter `id` and keep going through every node that does not wait.
    fn advance(&mut self, mut id: String) {
        for _ in 0..MAX_NODES_PER_STEP {
            let Some((node, _)) = self.journey.node(&id) else {
                // Unreachable for a validated journey; end rather than panic.
                return self.end(Status::Exited, Some(ExitReason::StepLimit));
            };
            let visit = {
                let v = self.run.visits.entry(id.clone()).or_default();
                *v += 1;
                *v
            };
            self.run.node = Some(id.clone());
            self.log(Some(&id), What::NodeEntered { node_type: node.type_name().to_string() });
            let next = match self.enter(&id, visit) {
                Some(next) => next,
                None => return,
            };
            id = next;
        }
        self.end(Status::Exited, Some(ExitReason::StepLimit));
    }

    /// Run one node. Returns the next node id, or `None` when the run waits or ends here.
    fn enter(&mut self, id: &str, visit: u32) -> Option<String> {
        let journey = self.journey;
        let (node, runtime) = journey.node(id)?;
        match (node, runtime) {
            (Node::Delay(d), Runtime::Delay(duration)) => {
                if *duration <= chrono::TimeDelta::zero() {
                    return Some(d.next.clone());
                }
                self.wait(id, Wait::Timer { until: self.now + *duration });
                None
            }
            (Node::WaitUntil(_), _) => {
                self.enter_wait_until(id.to_string(), false);
                None
            }
            (Node::WaitForEvent(w), Runtime::WaitForEvent(c)) => {
                self.wait(id, Wait::Event { event: w.event.clone(), timeout_at: self.now + c.timeout });
                None
            }
            (Node::Branch(b), _) => {
                let mut compared = Vec::new();
                let chosen = b.rules.iter().find(|r| r.condition.evaluate_traced(&self.scope(None), &mut compared));
                let (port, next) = match chosen {
                    Some(rule) => (rule.name.clone(), rule.next.clone()),
                    None => ("else".to_string(), b.otherwise.clone()),
                };
                self.log(Some(id), What::Decision { port, compared });
                Some(next)
            }
            (Node::Split(split), _) => {
                let (variant, next, holdout) = split.pick(journey.id(), &self.run.contact, self.run.entry);
                let (variant, next) = (variant.to_string(), next.to_string());
                self.log(Some(id), What::Variant { variant, holdout });
                Some(next)
            }
            (Node::Send(send), _) => self.send(id, visit, send).then(|| send.next.clone()),
            (Node::UpdateContact(u), _) => {
                let before = self.contact.clone();
                let scope = Scope { contact: &before, ..self.scope(None) };
                let mut contact = self.contact.clone();
                let changes = u.apply(&scope, &mut contact);
                self.contact = contact;
                self.log(Some(id), What::ContactUpdated { changes: changes.clone() });
                self.effects.push(Effect::UpdateContact { node: id.to_string(), changes });
                Some(u.next.clone())
            }
            (Node::Exit(_), _) => {
                self.end(Status::Completed, None);
                None
            }
            // A node whose runtime form does not match its type cannot come out of validation.
            _ => {
                self.end(Status::Exited, Some(ExitReason::StepLimit));
                None
            }
        }
    }

    /// Send the message of node `id` on its `visit`, unless quiet hours or a frequency cap
    /// hold it back. Returns false when the run waits here (the same visit sends when the
    /// timer fires, so the idempotency key stays the same); true to carry on to `next`.
    fn send(&mut self, id: &str, visit: u32, send: &Send) -> bool {
        // Consent first: a contact who opted out is not held for quiet hours or caps.
        let consent =
            self.contact.subscriptions.check(send.message.channel(), send.transactional, send.topic.as_deref());
        if let Err(blocked) = consent {
            self.log(Some(id), What::SendSkipped { reason: blocked.to_string() });
            return true;
        }
        let mut data = self.template_data();
        data["unsubscribe_url"] =
            self.journey.links().unsubscribe_url(&send.unsubscribe_target(&self.contact.id)).into();
        match send.render(self.journey.templates(), &data) {
            Ok(message) => {
                let channel = message.channel();
                let hold = pressure::gate(
                    self.journey.delivery(),
                    &self.delivery,
                    &self.own_sends,
                    channel,
                    send.transactional,
                    &self.contact,
                    self.now,
                );
                if let Some(hold) = hold {
                    self.log(Some(id), hold.entry(channel));
                    if hold.behaviour == Behaviour::Wait {
                        self.run.wait = Some(Wait::Timer { until: hold.until() });
                        self.run.status = Status::Waiting;
                        return false;
                    }
                    return true;
                }
                let key = format!("{}:{id}:{visit}", self.run.id);
                self.log(Some(id), What::Sent { key: key.clone(), channel });
                if !send.transactional {
                    self.own_sends.push(RecentSend { channel, at: self.now });
                }
                let awaited = send.awaits();
                self.effects.push(Effect::Send {
                    key: key.clone(),
                    node: id.to_string(),
                    message,
                    provider: send.provider.clone(),
                    transactional: send.transactional,
                    topic: send.topic.clone(),
                    awaited,
                });
                if awaited {
                    let check_at = self.delivery_check_at(self.now);
                    self.wait(id, Wait::Delivery { key, since: self.now, check_at });
                    return false;
                }
            }
            Err(skip) => self.log(Some(id), What::SendSkipped { reason: skip.to_string() }),
        }
        true
    }

    /// Wait at a `wait_until` node, or pass straight through it. `resumed`: the timer fired.
    fn enter_wait_until(&mut self, id: String, resumed: bool) {
        let journey = self.journey;
        let Some((Node::WaitUntil(w), Runtime::WaitUntil(c))) = journey.node(&id) else { return };
        match c.target(self.now, &self.contact, journey.timezone()) {
            Target::At(t) if t > self.now => self.wait(&id, Wait::Timer { until: t }),
            Target::At(_) => {
                if !resumed {
                    self.log(Some(&id), What::NoWait { reason: "the time has already come".into() });
                }
                self.advance(w.next.clone());
            }
            Target::Missing(reason) => {
                self.log(Some(&id), What::NoWait { reason });
                self.advance(w.next.clone());
            }
        }
    }

    fn template_data(&self) -> serde_json::Value {
        let wf = self.journey.workflow();
        let event = self.run.event.as_ref().unwrap_or(&self.run.trigger);
        json!({
            "contact": self.contact.template_data(),
            "trigger": self.run.trigger.template_data(),
            "event": event.template_data(),
            "journey": { "id": wf.id, "name": wf.name, "version": self.run.version, "run_id": self.run.id, "entry": self.run.entry },
            "data": self.run.data,
        })
    }
}
