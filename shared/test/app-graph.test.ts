import * as v from "valibot";
import { describe, expect, it } from "vitest";
import {
  APP_GRAPH_LIMITS,
  AppGraph,
  type AppGraphIssue,
  checkAppGraph,
  entityCollection,
  isServiceError,
  parseAppGraph,
} from "../src/index";

const base = () => ({
  version: 1 as const,
  name: "Plant Diary",
  description: "Track watering",
  entities: [
    {
      name: "Plant",
      fields: [
        { name: "name", type: "string" as string, required: true, unique: true },
        { name: "kind", type: "enum", values: ["fern", "cactus"] },
      ] as Record<string, unknown>[],
    },
    {
      name: "Watering",
      fields: [
        { name: "plant", type: "reference", ref: "Plant", required: true },
        { name: "at", type: "datetime" },
      ] as Record<string, unknown>[],
    },
  ],
  screens: [
    { id: "plants", title: "Plants", kind: "list", entity: "Plant", components: ["list"] },
    { id: "plant-detail", title: "Plant", kind: "detail", entity: "Plant" },
  ] as Record<string, unknown>[],
  navigation: [{ from: "plants", to: "plant-detail", label: "Open" }] as Record<string, unknown>[],
});

function issuesOf(input: unknown): AppGraphIssue[] {
  try {
    parseAppGraph(input);
  } catch (error) {
    expect(isServiceError(error) && error.code).toBe("invalid_input");
    return (error as { details: { issues: AppGraphIssue[] } }).details.issues;
  }
  throw new Error("expected the graph to be refused");
}

const pathsOf = (input: unknown) => issuesOf(input).map((issue) => issue.path);

describe("App Graph v1 schema", () => {
  it("accepts the core as written and every field type", () => {
    const graph = base();
    graph.entities[0]!.fields.push(
      ...["text", "integer", "number", "boolean", "date", "email", "url", "image"].map((type) => ({
        name: `a${type}`,
        type,
      })),
    );
    expect(parseAppGraph(graph)).toEqual(graph);
    expect(checkAppGraph(parseAppGraph(graph))).toEqual([]);
  });

  it("accepts a graph without navigation, description, kinds or components", () => {
    const graph = base();
    const { navigation: _n, description: _d, ...rest } = graph;
    rest.screens = [{ id: "home", title: "Home" }];
    expect(parseAppGraph(rest).screens).toEqual([{ id: "home", title: "Home" }]);
  });

  it("reports each structural failure with its path", () => {
    const graph = base();
    (graph as Record<string, unknown>).version = 2;
    graph.entities[0]!.name = "plant";
    graph.entities[1]!.fields[1]!.name = "At";
    graph.entities[1]!.fields[0]!.type = "relation";
    graph.screens[1]!.id = "Plant_Detail";
    graph.screens[0]!.kind = "grid";
    graph.navigation[0]!.extra = true;
    expect(pathsOf(graph)).toEqual([
      "version",
      "entities[0].name",
      "entities[1].fields[0].type",
      "entities[1].fields[1].name",
      "screens[0].kind",
      "screens[1].id",
      "navigation[0].extra",
    ]);
  });

  it("says what shape a name must have", () => {
    const graph = base();
    graph.entities[0]!.name = "plant";
    graph.entities[0]!.fields[0]!.name = "Name";
    graph.screens[0]!.id = "Plants";
    expect(issuesOf(graph)).toEqual([
      { path: "entities[0].name", message: "an entity name must be PascalCase" },
      { path: "entities[0].fields[0].name", message: "a field name must be camelCase" },
      { path: "screens[0].id", message: "a screen id must be kebab-case" },
    ]);
  });

  it("refuses a non-object, an empty app and names that are too long", () => {
    expect(pathsOf([])).toEqual([""]);
    expect(pathsOf(null)).toEqual([""]);
    expect(pathsOf({ ...base(), entities: [] })).toEqual(["entities"]);
    expect(pathsOf({ ...base(), name: "x".repeat(65) })).toEqual(["name"]);
    const graph = base();
    graph.entities[0]!.name = `P${"a".repeat(64)}`;
    expect(pathsOf(graph)).toEqual(["entities[0].name"]);
  });

  it("refuses control characters in enum values (they become SQL literals)", () => {
    const graph = base();
    graph.entities[0]!.fields[1]!.values = ["fern", "cac\u0000tus", "a\nb"];
    expect(pathsOf(graph)).toEqual(["entities[0].fields[1].values[1]", "entities[0].fields[1].values[2]"]);
  });

  it("enforces the limits: 50 entities, 97 fields each (D1: 100 columns with the generated three), 100 screens", () => {
    const entity = (i: number) => ({ name: `E${i}`, fields: [{ name: "title", type: "string" }] });
    const many = { ...base(), entities: Array.from({ length: APP_GRAPH_LIMITS.entities + 1 }, (_, i) => entity(i)) };
    many.screens = [];
    many.navigation = [];
    expect(pathsOf(many)).toEqual(["entities"]);
    many.entities = many.entities.slice(0, APP_GRAPH_LIMITS.entities);
    expect(parseAppGraph(many).entities).toHaveLength(50);

    const wide = base();
    wide.entities[0]!.fields = Array.from({ length: APP_GRAPH_LIMITS.fieldsPerEntity + 1 }, (_, i) => ({
      name: `f${i}`,
      type: "string",
    }));
    expect(pathsOf(wide)).toEqual(["entities[0].fields"]);

    const screens = base();
    screens.screens = Array.from({ length: 101 }, (_, i) => ({ id: `s${i}`, title: "S" }));
    screens.navigation = [];
    expect(pathsOf(screens)).toEqual(["screens"]);
  });

  it("stays linear on a huge hostile name", () => {
    const graph = base();
    graph.entities[0]!.name = `A${"a-".repeat(100_000)}!`;
    graph.screens[0]!.id = `${"a-".repeat(100_000)}-`;
    expect(pathsOf(graph)).toEqual(["entities[0].name", "entities[0].name", "screens[0].id", "screens[0].id"]);
  });
});

describe("App Graph integrity pass", () => {
  const cases: [string, (graph: ReturnType<typeof base>) => void, string[]][] = [
    ["an unknown ref", (g) => (g.entities[1]!.fields[0]!.ref = "Pot"), ["entities[1].fields[0].ref"]],
    ["a ref differing in case", (g) => (g.entities[1]!.fields[0]!.ref = "plant"), ["entities[1].fields[0].ref"]],
    ["a reference without ref", (g) => delete g.entities[1]!.fields[0]!.ref, ["entities[1].fields[0].ref"]],
    ["ref on a non-reference", (g) => (g.entities[0]!.fields[0]!.ref = "Plant"), ["entities[0].fields[0].ref"]],
    ["values on a non-enum", (g) => (g.entities[0]!.fields[0]!.values = ["a"]), ["entities[0].fields[0].values"]],
    ["an enum without values", (g) => delete g.entities[0]!.fields[1]!.values, ["entities[0].fields[1].values"]],
    ["an enum with empty values", (g) => (g.entities[0]!.fields[1]!.values = []), ["entities[0].fields[1].values"]],
    [
      "a duplicate enum value",
      (g) => (g.entities[0]!.fields[1]!.values = ["fern", "Fern"]),
      ["entities[0].fields[1].values[1]"],
    ],
    ["an unknown screen entity", (g) => (g.screens[1]!.entity = "Pot"), ["screens[1].entity"]],
    ["an unknown navigation source", (g) => (g.navigation[0]!.from = "nowhere"), ["navigation[0].from"]],
    ["an unknown navigation target", (g) => (g.navigation[0]!.to = "nowhere"), ["navigation[0].to"]],
    ["a duplicate entity name (any case)", (g) => (g.entities[1]!.name = "PLANT"), ["entities[1].name"]],
    [
      "a duplicate field name (any case)",
      (g) => (g.entities[0]!.fields[1]!.name = "nAME"),
      ["entities[0].fields[1].name"],
    ],
    ["a duplicate screen id", (g) => (g.screens[1]!.id = "plants"), ["screens[1].id", "navigation[0].to"]],
    ["the index page's id", (g) => (g.screens[0]!.id = "index"), ["screens[0].id", "navigation[0].from"]],
    ["a generated column's name", (g) => (g.entities[0]!.fields[0]!.name = "id"), ["entities[0].fields[0].name"]],
    ["createdAt", (g) => (g.entities[0]!.fields[0]!.name = "createdAt"), ["entities[0].fields[0].name"]],
    ["SQLite's rowid", (g) => (g.entities[0]!.fields[0]!.name = "rowid"), ["entities[0].fields[0].name"]],
    ["an Object member", (g) => (g.entities[0]!.fields[0]!.name = "constructor"), ["entities[0].fields[0].name"]],
    [
      "a unique boolean",
      (g) => Object.assign(g.entities[0]!.fields[0]!, { type: "boolean" }),
      ["entities[0].fields[0].unique"],
    ],
    [
      "two entities on one API path",
      (g) =>
        g.entities.push(
          { name: "Bus", fields: [{ name: "x", type: "string" }] },
          { name: "Buse", fields: [{ name: "x", type: "string" }] },
        ),
      ["entities[3].name"],
    ],
    [
      "a cycle of required references",
      (g) => g.entities[0]!.fields.push({ name: "lastWatering", type: "reference", ref: "Watering", required: true }),
      ["entities[1].fields[0].required"],
    ],
    [
      "a required self-reference",
      (g) => g.entities[0]!.fields.push({ name: "parent", type: "reference", ref: "Plant", required: true }),
      ["entities[0].fields[2].required"],
    ],
  ];

  for (const [what, change, paths] of cases) {
    it(`reports ${what} at its path`, () => {
      const graph = base();
      change(graph);
      expect(pathsOf(graph)).toEqual(paths);
      expect(checkAppGraph(graph as never).map((issue) => issue.path)).toEqual(paths);
    });
  }

  it("accepts an optional self-reference and SQL/JS keywords as names (they are escaped)", () => {
    const graph = base();
    graph.entities[0]!.fields.push({ name: "parent", type: "reference", ref: "Plant" });
    graph.entities.push({
      name: "Order",
      fields: ["select", "from", "where", "default", "class", "delete", "table", "group"].map((name) => ({
        name,
        type: "string",
      })),
    });
    expect(parseAppGraph(graph).entities).toHaveLength(3);
  });

  it("reports every integrity issue at once", () => {
    const graph = base();
    graph.entities[1]!.fields[0]!.ref = "Pot";
    graph.screens[1]!.entity = "Pot";
    expect(pathsOf(graph)).toEqual(["entities[1].fields[0].ref", "screens[1].entity"]);
  });

  it("gives the valibot schema the same paths, for the SI skill's repair prompt", () => {
    const graph = base();
    graph.entities[1]!.fields[0]!.ref = "Pot";
    const result = v.safeParse(AppGraph, graph);
    expect(result.success).toBe(false);
    expect(result.issues?.[0]?.path?.map((item) => item.key)).toEqual(["entities", 1, "fields", 0, "ref"]);
  });
});

describe("entity collections", () => {
  it("are plural kebab-case", () => {
    expect(["Plant", "PlantEvent", "Box", "Category", "Day", "HTTPRequest", "Status"].map(entityCollection)).toEqual([
      "plants",
      "plant-events",
      "boxes",
      "categories",
      "days",
      "http-requests",
      "statuses",
    ]);
  });
});
