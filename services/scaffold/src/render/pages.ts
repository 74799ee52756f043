import type { AppGraphScreen } from "@cognomega/shared";
import { type EntityModel, embedJson, html, type ProjectModel } from "./model";

function layout(model: ProjectModel, title: string, body: string): string {
  return [
    "<!doctype html>",
    '<html lang="en">',
    "<head>",
    '  <meta charset="utf-8">',
    '  <meta name="viewport" content="width=device-width, initial-scale=1">',
    `  <title>${html(title)}</title>`,
    '  <link rel="stylesheet" href="/style.css">',
    "</head>",
    "<body>",
    `  <header><a href="/">${html(model.title)}</a></header>`,
    body,
    "</body>",
    "</html>",
    "",
  ].join("\n");
}

/** The page of a screen: `/<id>`, served from `public/<id>.html`. */
export function screenHref(id: string): string {
  return `/${id}`;
}

function links(model: ProjectModel, screen: AppGraphScreen): string {
  const titles = new Map(model.graph.screens.map((s) => [s.id, s.title]));
  const items = (model.graph.navigation ?? [])
    .filter((link) => link.from === screen.id)
    .map((link) => `    <a href="${screenHref(link.to)}">${html(link.label ?? titles.get(link.to) ?? link.to)}</a>`);
  return ["  <nav>", ...items, "  </nav>"].join("\n");
}

const LABEL_TYPES = new Set(["string", "email", "enum"]);

/** The fields a page's script needs, with each reference's API path and the target field that names a row. */
function entityJson(model: ProjectModel, entity: EntityModel): string {
  const byName = new Map(model.entities.map((e) => [e.name, e]));
  const fields = entity.fields.map((field) => {
    const target = field.ref === undefined ? undefined : byName.get(field.ref);
    if (target === undefined) return field;
    const label = target.fields.find((f) => LABEL_TYPES.has(f.type));
    return { ...field, refPath: `/api/${target.path}`, ...(label ? { refLabel: label.name } : {}) };
  });
  return embedJson({ name: entity.name, path: `/api/${entity.path}`, fields });
}

/** The first screen of `kind` showing `entity`, for list → detail and detail → back links. */
function screenOf(model: ProjectModel, entity: string, kind: string): string | undefined {
  const found = model.graph.screens.find((s) => s.entity === entity && (s.kind ?? "list") === kind);
  return found ? screenHref(found.id) : undefined;
}

/** `public/<screen id>.html`. A screen with an entity uses its API; one without lists the app's collections. */
export function screenPage(model: ProjectModel, screen: AppGraphScreen): string {
  const entity = model.entities.find((e) => e.name === screen.entity);
  const kind = screen.kind ?? (entity ? "list" : "dashboard");
  const components = (screen.components ?? []).map((c) => `<li>${html(c)}</li>`).join("");
  const parts = [links(model, screen)];
  if (entity) {
    const detail = screenOf(model, entity.name, "detail");
    const back = screenOf(model, entity.name, "list");
    const attrs = [
      `data-kind="${kind}"`,
      `data-entity="${html(entity.name)}"`,
      `data-api="/api/${entity.path}"`,
      ...(detail ? [`data-detail="${detail}"`] : []),
      ...(back ? [`data-back="${back}"`] : []),
    ];
    parts.push(
      `  <main ${attrs.join(" ")}>`,
      `    <h1>${html(screen.title)}</h1>`,
      ...(components ? [`    <ul class="components">${components}</ul>`] : []),
      '    <section id="content"></section>',
      "  </main>",
      `  <script type="application/json" id="entity">${entityJson(model, entity)}</script>`,
      '  <script type="module" src="/app.js"></script>',
    );
  } else {
    parts.push(
      `  <main data-kind="${kind}">`,
      `    <h1>${html(screen.title)}</h1>`,
      ...(components ? [`    <ul class="components">${components}</ul>`] : []),
      collections(model),
      "  </main>",
    );
  }
  return layout(model, `${screen.title} · ${model.title}`, parts.join("\n"));
}

function collections(model: ProjectModel): string {
  const items = model.entities.map(
    (entity) =>
      `      <li>${html(entity.name)}: <a href="/api/${entity.path}"><code>/api/${entity.path}</code></a></li>`,
  );
  return ["    <h2>API</h2>", '    <ul class="api">', ...items, "    </ul>"].join("\n");
}

/** `public/index.html`: the app's name, every screen, and every collection of the API. */
export function indexPage(model: ProjectModel): string {
  const screens = model.graph.screens.map(
    (screen) => `      <li><a href="${screenHref(screen.id)}">${html(screen.title)}</a></li>`,
  );
  const body = [
    "  <main>",
    `    <h1>${html(model.title)}</h1>`,
    ...(model.graph.description ? [`    <p>${html(model.graph.description)}</p>`] : []),
    "    <h2>Screens</h2>",
    '    <ul class="screens">',
    ...screens,
    "    </ul>",
    collections(model),
    "  </main>",
  ];
  return layout(model, model.title, body.join("\n"));
}
