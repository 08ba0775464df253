/** What the coverage check needs of a Hono app: its registered routes. */
export interface RoutedApp {
  routes: ReadonlyArray<{ method: string; path: string }>;
}

/** A parsed OpenAPI document's `paths`, untyped JSON. */
function documentedOperations(document: unknown): Set<string> {
  const paths = typeof document === "object" && document !== null ? Reflect.get(document, "paths") : null;
  const operations = new Set<string>();
  if (typeof paths !== "object" || paths === null) return operations;
  for (const [path, item] of Object.entries(paths)) {
    if (typeof item !== "object" || item === null) continue;
    for (const method of Object.keys(item)) operations.add(`${method.toUpperCase()} ${path}`);
  }
  return operations;
}

/**
 * Every route registered on a Hono app (method + path, `:id` written `{id}`) that its
 * OpenAPI document does not describe. Middleware (`app.use`, method ALL) is not a route.
 */
export function undocumentedRoutes(app: RoutedApp, document: unknown): string[] {
  const documented = documentedOperations(document);
  const registered = new Set(
    app.routes
      .filter((route) => route.method !== "ALL")
      .map((route) => `${route.method} ${route.path.replace(/:([A-Za-z0-9_]+)/g, "{$1}")}`),
  );
  return [...registered].filter((operation) => !documented.has(operation)).sort();
}
