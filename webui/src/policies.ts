import type { TargetedEvent } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import {
  CALLEE_CHOICES, CALLER_CHOICES, explainPolicy, type CalleeStreamOption, type CallerStreamOption, type Choice, type PolicyOutcome,
} from '../../firmware/admin/explain.js';
import { api, errorMessage, fieldErrors } from './api.js';
import { html, type Html } from './html.js';
import type { Policy, PolicyListEntry } from './types.js';
import { Field, FormError } from './ui.js';

/** Media security policies, with what each choice does spelled out beside it. */

const NAME = /^[A-Za-z0-9._-]{1,32}$/;

function Outcome(props: { title: string; o: PolicyOutcome }): Html {
  const rec = props.o.recording ? html`<span class="ok">possible</span>` : html`<span class="warn">not possible</span>`;
  return html`<p><strong>${props.title}:</strong> ${props.o.path}
    <br /><span class="hint">${props.o.mode === 'relay' ? 'Relayed' : 'The box decrypts'}; recording and music on hold ${rec}.</span></p>`;
}

export function Explanation(props: { caller: CallerStreamOption; callee: CalleeStreamOption }): Html {
  const x = explainPolicy(props.caller, props.callee);
  return html`<div class="explain" id="policy-explanation">
    <p>${x.summary}</p>
    <${Outcome} title="If the caller encrypts (SRTP)" o=${x.callerEncrypts} />
    <${Outcome} title="If the caller sends plain RTP" o=${x.callerPlain} />
    <p class="hint">This assumes both extensions of a call have this policy. On a call from A to B, A's policy supplies the caller setting and B's policy the callee setting; a call to a trunk or a fixed address uses A's policy for both.</p>
  </div>`;
}

const NEW_POLICY: Policy = { name: '', callerStream: 'relay_or_decrypt', calleeStream: 'as_caller' };

/** The choice a select offers for `value`, if the page knows it. */
function choiceOf<T extends string>(list: readonly Choice<T>[], value: string): Choice<T> | undefined {
  return list.find((c) => c.value === value);
}

function PolicyForm(props: { editing: Policy | null; onSaved: () => void; onCancel: () => void }): Html {
  const init = props.editing ?? NEW_POLICY;
  const [v, setV] = useState<Policy>({ name: init.name, callerStream: init.callerStream, calleeStream: init.calleeStream });
  const [errors, setErrors] = useState<Record<string, string>>({});
  useEffect(() => { setV({ name: init.name, callerStream: init.callerStream, calleeStream: init.calleeStream }); setErrors({}); }, [props.editing]);
  const setName = (ev: TargetedEvent<HTMLInputElement>) => setV({ ...v, name: ev.currentTarget.value });
  // The selects offer only these choices, so the lookups always find one.
  const setCaller = (ev: TargetedEvent<HTMLSelectElement>) => {
    const c = choiceOf(CALLER_CHOICES, ev.currentTarget.value);
    if (c) setV({ ...v, callerStream: c.value });
  };
  const setCallee = (ev: TargetedEvent<HTMLSelectElement>) => {
    const c = choiceOf(CALLEE_CHOICES, ev.currentTarget.value);
    if (c) setV({ ...v, calleeStream: c.value });
  };
  const caller = choiceOf(CALLER_CHOICES, v.callerStream);
  const callee = choiceOf(CALLEE_CHOICES, v.calleeStream);
  const submit = async (ev: Event) => {
    ev.preventDefault();
    if (!props.editing && !NAME.test(v.name)) { setErrors({ name: 'Use 1-32 letters, digits, ".", "_" or "-".' }); return; }
    try {
      if (props.editing) await api('PUT', `/policies/${encodeURIComponent(v.name)}`, { callerStream: v.callerStream, calleeStream: v.calleeStream });
      else await api('POST', '/policies', v);
      setErrors({});
      if (!props.editing) setV({ ...v, name: '' });
      props.onSaved();
    } catch (e) { setErrors(fieldErrors(e)); }
  };
  return html`<form id="policy-form" onSubmit=${submit} novalidate>
    <${FormError} errors=${errors} />
    <${Field} id="policy-name" label="Name" error=${errors.name}>
      <input id="policy-name" type="text" value=${v.name} onInput=${setName} disabled=${!!props.editing} /></${Field}>
    <div class="grid">
      <${Field} id="policy-caller" label="When an extension with this policy calls: its media" error=${errors.callerStream} hint=${caller?.help}>
        <select id="policy-caller" value=${v.callerStream} onChange=${setCaller}>
          ${CALLER_CHOICES.map((c) => html`<option value=${c.value}>${c.label}</option>`)}</select></${Field}>
      <${Field} id="policy-callee" label="When an extension with this policy is called: its leg" error=${errors.calleeStream} hint=${callee?.help}>
        <select id="policy-callee" value=${v.calleeStream} onChange=${setCallee}>
          ${CALLEE_CHOICES.map((c) => html`<option value=${c.value}>${c.label}</option>`)}</select></${Field}>
    </div>
    <${Explanation} caller=${v.callerStream} callee=${v.calleeStream} />
    <div class="row" style=${{ marginTop: '.7rem' }}>
      <button type="submit">${props.editing ? 'Save policy' : 'Create policy'}</button>
      ${props.editing ? html`<button type="button" class="plain" onClick=${props.onCancel}>Cancel</button>` : null}
    </div>
  </form>`;
}

export function Policies(): Html {
  const [policies, setPolicies] = useState<readonly PolicyListEntry[] | null>(null);
  const [editing, setEditing] = useState<Policy | null>(null);
  const [error, setError] = useState('');
  const load = () => api<PolicyListEntry[]>('GET', '/policies').then(setPolicies).catch((e: unknown) => setError(errorMessage(e)));
  useEffect(() => { void load(); }, []);
  const remove = async (name: string) => {
    setError('');
    if (!confirm(`Remove policy ${name}?`)) return;
    try { await api('DELETE', `/policies/${encodeURIComponent(name)}`); await load(); } catch (e) { setError(errorMessage(e)); }
  };
  const label = <T extends string>(list: readonly Choice<T>[], v: string) => choiceOf(list, v)?.label ?? v;
  if (!policies) return html`<p class="boot">${error || 'Loading…'}</p>`;
  return html`
  <section class="card"><h2>Media security policies</h2>
    <p class="hint">Each extension has one policy, which acts in two roles. When the extension calls, the policy's caller setting decides whether the box may relay its media untouched (a fully private call, only when both legs use the same SRTP) or takes it apart. When the extension is called, the policy's callee setting decides how the box protects the leg to it. So a call from A to B follows A's caller setting and B's callee setting.</p>
    ${error ? html`<div class="notice bad" role="alert">${error}</div>` : null}
    <table id="policies"><thead><tr><th>Name</th><th>As caller</th><th>As callee</th><th>Extensions</th><th>Behaviour</th><th class="actions">Actions</th></tr></thead>
    <tbody>${policies.map((p) => html`<tr data-policy=${p.name}><td>${p.name}</td><td>${label(CALLER_CHOICES, p.callerStream)}</td>
      <td>${label(CALLEE_CHOICES, p.calleeStream)}</td><td>${p.accounts}</td>
      <td class="hint">${explainPolicy(p.callerStream, p.calleeStream).summary}</td>
      <td class="actions"><div class="row"><button class="plain" onClick=${() => setEditing(p)}>Edit</button>
        ${p.name === 'default' ? null : html`<button class="danger" onClick=${() => remove(p.name)}>Remove</button>`}</div></td></tr>`)}</tbody></table>
  </section>
  <section class="card"><h2>${editing ? `Edit policy ${editing.name}` : 'Create a policy'}</h2>
    <${PolicyForm} editing=${editing} onSaved=${() => { setEditing(null); void load(); }} onCancel=${() => setEditing(null)} />
  </section>`;
}
