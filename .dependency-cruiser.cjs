/**
 * dependency-cruiser's rules for src/ (`npm run lint`): one rule per layer of layers.cjs (`layer-<name>`: a layer
 * imports only itself and the layers it `uses`), no import cycles, Fastify only in src/http, database drivers only in
 * src/db. Type-only imports count: a layer that names a higher layer's type depends on it.
 */
const { LAYERS } = require('./layers.cjs');

const escapeRegex = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
/** A path regex matching the files of the given layers. */
const pathsOf = (names) => {
  const paths = LAYERS.filter((l) => names.includes(l.name)).flatMap((l) => l.paths);
  return paths.map((p) => `^${escapeRegex(p)}${p.endsWith('/') ? '' : '$'}`).join('|');
};

const layerRules = LAYERS.map((layer) => ({
  name: `layer-${layer.name}`,
  comment: `${layer.paths.join(', ')} may import only ${['itself', ...layer.uses].join(', ')} (.dependency-cruiser.cjs)`,
  severity: 'error',
  from: { path: pathsOf([layer.name]) },
  to: { path: '^src/', pathNot: pathsOf([layer.name, ...layer.uses]) },
}));

module.exports = {
  forbidden: [
    ...layerRules,
    {
      name: 'no-circular',
      comment: 'An import cycle between files is a defect (ARCHITECTURE §1).',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'fastify-only-in-http',
      comment: 'Nothing below src/http imports Fastify (ARCHITECTURE §1).',
      severity: 'error',
      from: { path: '^src/', pathNot: `^src/http/|${pathsOf(['app'])}` },
      to: { path: '(^|/)node_modules/(fastify|@fastify/)' },
    },
    {
      name: 'database-drivers-only-in-db',
      comment: 'Nothing but src/db imports pg or PGlite (ARCHITECTURE §1).',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/db/' },
      to: { path: '(^|/)node_modules/(pg|@electric-sql/pglite)/' },
    },
    {
      name: 'not-to-unresolvable',
      comment: 'Every import resolves.',
      severity: 'error',
      from: { path: '^src/' },
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default'] },
  },
};
