// The pages' script (public/app.js) run against a small DOM double that keeps the one browser rule
// this test is about: a <form>'s named controls shadow its own members (HTMLFormElement is
// [LegacyOverrideBuiltIns]), so a field called `append`, `elements` or `reset` is `form.append`.
import { runInNewContext } from "node:vm";
import { describe, expect, it } from "vitest";
import { clientScript } from "../src/render/client";

class FakeEventTarget {
  listeners = new Map<string, ((event: unknown) => unknown)[]>();
  addEventListener(type: string, listener: (event: unknown) => unknown) {
    this.listeners.set(type, [...(this.listeners.get(type) ?? []), listener]);
  }
}

class FakeElement extends FakeEventTarget {
  attributes: Record<string, string> = {};
  children: (FakeElement | string)[] = [];
  dataset: Record<string, string> = {};
  value = "";
  checked = false;
  hidden = false;
  textContent = "";
  constructor(readonly tagName: string) {
    super();
  }
  setAttribute(key: string, value: string) {
    this.attributes[key] = String(value);
  }
  append(...nodes: (FakeElement | string)[]) {
    this.children.push(...nodes);
  }
  descendants(): FakeElement[] {
    return this.children.flatMap((child) => (typeof child === "string" ? [] : [child, ...child.descendants()]));
  }
  querySelectorAll(selector: string): FakeElement[] {
    const classes = selector.split(",").map((part) => part.trim().replace(/^\./, ""));
    return this.descendants().filter((node) => classes.includes(node.attributes.class ?? ""));
  }
  remove() {}
}

class FakeForm extends FakeElement {
  resets = 0;
  get elements() {
    return { namedItem: (name: string) => this.descendants().find((node) => node.attributes.name === name) ?? null };
  }
  reset() {
    this.resets++;
  }
}

/** A form as a browser exposes it: a named control wins over the form's own member of that name. */
function overridingBuiltIns(form: FakeForm): FakeForm {
  return new Proxy(form, {
    get(target, key, receiver) {
      if (typeof key === "string") {
        const control = target.descendants().find((node) => node.attributes.name === key);
        if (control) return control;
      }
      const value = Reflect.get(target, key, receiver);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

async function runFormPage(fieldNames: string[]) {
  const spec = { name: "Thing", path: "/api/things", fields: fieldNames.map((name) => ({ name, type: "string" })) };
  const main = new FakeElement("main");
  main.dataset = { kind: "form", api: "/api/things" };
  const content = new FakeElement("section");
  const entity = Object.assign(new FakeElement("script"), { textContent: JSON.stringify(spec) });
  const forms: FakeForm[] = [];
  const posted: unknown[] = [];
  const document = {
    querySelector: (selector: string) => (selector === "main" ? main : null),
    getElementById: (id: string) => ({ content, entity })[id] ?? null,
    createElement(tag: string) {
      if (tag !== "form") return new FakeElement(tag);
      const form = new FakeForm(tag);
      forms.push(form);
      return overridingBuiltIns(form);
    },
  };
  const fetch = async (_url: string, init: { method: string; body?: string }) => {
    posted.push({ method: init.method, body: JSON.parse(init.body ?? "null") });
    return { status: 201, ok: true, statusText: "Created", json: async () => ({ id: "row-1" }) };
  };
  const errors: unknown[] = [];
  runInNewContext(clientScript(), {
    document,
    fetch,
    location: { search: "" },
    URLSearchParams,
    HTMLFormElement: FakeForm,
    Element: FakeElement,
    EventTarget: FakeEventTarget,
    console: { error: (e: unknown) => errors.push(e) },
  });
  for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
  return { content, forms, posted };
}

describe("public/app.js", () => {
  it("builds, submits and resets a form whose fields are named like the form's own members", async () => {
    const names = ["append", "elements", "reset", "addEventListener", "title"];
    const { content, forms, posted } = await runFormPage(names);
    const alerts = content.descendants().filter((node) => node.attributes.role === "alert");
    expect(alerts.map((node) => node.children.join(""))).toEqual([]);
    const form = forms[0] as FakeForm;
    const controls = form.descendants().filter((node) => node.tagName === "input");
    expect(controls.map((node) => node.attributes.name)).toEqual(names);
    for (const control of controls) control.value = `value of ${control.attributes.name}`;

    const submit = form.listeners.get("submit")?.[0];
    expect(submit).toBeTypeOf("function");
    await submit?.({ preventDefault() {} });
    expect(posted).toEqual([
      { method: "POST", body: Object.fromEntries(names.map((name) => [name, `value of ${name}`])) },
    ]);
    expect(content.querySelectorAll(".saved")).toHaveLength(1);
    expect(form.resets).toBe(1);
  });
});
