// The generated pages' one script and stylesheet, as source text. Plain fetch and DOM calls, no
// framework; values are shown with textContent, never as HTML.

/** `public/app.js`: renders the screen described by the page's `<main data-*>` and its embedded entity. */
export function clientScript(): string {
  return `// Drives every page: the <main> element says what the screen shows (data-kind) and which API it
// uses (data-api); the entity's fields are embedded as JSON in <script id="entity">.
const main = document.querySelector("main");
const content = document.getElementById("content");
const spec = JSON.parse(document.getElementById("entity")?.textContent || "null");
const api = main?.dataset.api;

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  node.append(...children);
  return node;
}

async function call(method, url, body) {
  const init = { method, headers: body === undefined ? {} : { "content-type": "application/json" } };
  if (body !== undefined) init.body = JSON.stringify(body);
  const response = await fetch(url, init);
  const data = response.status === 204 ? null : await response.json();
  if (!response.ok) throw Object.assign(new Error(data.detail || response.statusText), { problem: data });
  return data;
}

function showError(error) {
  const issues = (error.problem && error.problem.issues) || [];
  content.append(el("p", { class: "error", role: "alert" }, error.message));
  if (issues.length > 0) content.append(el("ul", { class: "error" }, ...issues.map((i) => el("li", {}, i.path + ": " + i.message))));
}

function display(field, value) {
  if (value === null || value === undefined) return "";
  if (field.type === "boolean") return value ? "yes" : "no";
  return String(value);
}

async function renderList() {
  const table = el("table");
  const fields = spec.fields.slice(0, 6);
  table.append(el("tr", {}, ...fields.map((f) => el("th", {}, f.name)), el("th", {}, "")));
  const more = el("button", { type: "button" }, "More");
  content.append(table, more);
  let cursor = null;
  async function page() {
    const url = api + "?limit=20" + (cursor ? "&cursor=" + encodeURIComponent(cursor) : "");
    const data = await call("GET", url);
    for (const row of data.items) {
      const open = main.dataset.detail ? el("a", { href: main.dataset.detail + "?id=" + row.id }, "Open") : "";
      table.append(el("tr", {}, ...fields.map((f) => el("td", {}, display(f, row[f.name]))), el("td", {}, open)));
    }
    cursor = data.next_cursor;
    more.hidden = cursor === null;
  }
  more.addEventListener("click", () => page().catch(showError));
  await page();
}

const INPUT_TYPES = { integer: "number", number: "number", date: "date", datetime: "datetime-local", email: "email", url: "url", image: "url" };

// datetime-local inputs show local time without a zone; the API stores UTC.
function localDateTime(iso) {
  const date = new Date(iso);
  return new Date(date.getTime() - date.getTimezoneOffset() * 60000).toISOString().slice(0, 16);
}

async function input(field, value) {
  if (field.type === "boolean") {
    const box = el("input", { type: "checkbox", name: field.name });
    box.checked = value === true;
    return box;
  }
  if (field.type === "text") return Object.assign(el("textarea", { name: field.name }), { value: value ?? "" });
  if (field.type === "enum" || field.type === "reference") {
    const select = el("select", { name: field.name }, el("option", { value: "" }, ""));
    const options = field.type === "enum" ? field.values.map((v) => [v, v]) : (await call("GET", field.refPath + "?limit=100")).items.map((row) => [row.id, field.refLabel ? row[field.refLabel] + " (" + row.id.slice(-6) + ")" : row.id]);
    for (const [key, label] of options) select.append(el("option", { value: key }, label));
    select.value = value ?? "";
    return select;
  }
  const attrs = { name: field.name, type: INPUT_TYPES[field.type] || "text" };
  if (field.type === "number") attrs.step = "any";
  const box = el("input", attrs);
  box.value = value == null ? "" : field.type === "datetime" ? localDateTime(value) : String(value);
  return box;
}

function readForm(controls, partial) {
  const body = {};
  for (const field of spec.fields) {
    const control = controls.get(field.name);
    if (field.type === "boolean") body[field.name] = control.checked;
    else if (control.value === "") { if (partial) body[field.name] = null; }
    else if (field.type === "integer" || field.type === "number") body[field.name] = Number(control.value);
    else if (field.type === "datetime") body[field.name] = new Date(control.value).toISOString();
    else body[field.name] = control.value;
  }
  return body;
}

// A form's named controls shadow its own members (a field called "append", "elements" or "reset"
// is form.append, form.elements, form.reset): the controls are kept here, the listener is added
// and the children appended before any control is in the form, and reset comes from the prototype.
async function renderForm(row) {
  const controls = new Map();
  const labels = [];
  for (const field of spec.fields) {
    const control = await input(field, row ? row[field.name] : undefined);
    controls.set(field.name, control);
    labels.push(el("label", {}, field.name + (field.required ? " *" : ""), control));
  }
  const form = el("form");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    for (const old of content.querySelectorAll(".error, .saved")) old.remove();
    try {
      const saved = row ? await call("PATCH", api + "/" + row.id, readForm(controls, true)) : await call("POST", api, readForm(controls, false));
      content.append(el("p", { class: "saved" }, "Saved " + saved.id));
      if (!row) HTMLFormElement.prototype.reset.call(form);
    } catch (error) {
      showError(error);
    }
  });
  form.append(...labels, el("button", { type: "submit" }, row ? "Save" : "Create"));
  content.append(form);
}

async function renderDetail() {
  const id = new URLSearchParams(location.search).get("id");
  if (!id) return renderList();
  const row = await call("GET", api + "/" + encodeURIComponent(id));
  content.append(el("dl", {}, ...["id", ...spec.fields.map((f) => f.name), "created_at", "updated_at"].flatMap((name) => [el("dt", {}, name), el("dd", {}, display(spec.fields.find((f) => f.name === name) || {}, row[name]))])));
  await renderForm(row);
  const remove = el("button", { type: "button", class: "danger" }, "Delete");
  remove.addEventListener("click", () => call("DELETE", api + "/" + row.id).then(() => { location.href = main.dataset.back || "/"; }, showError));
  content.append(remove);
}

const screens = { list: renderList, detail: renderDetail, form: () => renderForm(), dashboard: renderList };
if (api && spec) (screens[main.dataset.kind] || renderList)().catch(showError);
`;
}

/** `public/style.css`: a small readable default. */
export function stylesheet(): string {
  return `body { font-family: system-ui, sans-serif; margin: 0 auto; max-width: 60rem; padding: 1rem; color: #1f2328; }
header a { font-weight: 600; text-decoration: none; }
nav a { margin-right: 1rem; }
table { border-collapse: collapse; width: 100%; margin: 1rem 0; }
th, td { border-bottom: 1px solid #d0d7de; padding: 0.4rem; text-align: left; }
form { display: grid; gap: 0.6rem; max-width: 30rem; margin: 1rem 0; }
label { display: grid; gap: 0.2rem; }
.error { color: #cf222e; }
.saved { color: #1a7f37; }
.danger { color: #cf222e; }
`;
}
