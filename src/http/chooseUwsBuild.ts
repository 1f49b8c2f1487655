/**
 * Which native uWebSockets.js build a runtime can load, or why none can. The packages' own loaders
 * fall back to a JavaScript imitation that listens and then fails every request: PyTake picks a
 * `.node` file itself and never runs on that fallback (src/http/uws.ts loads it). All is pure but
 * currentRuntime().
 */

export type Runtime = {
  /** process.versions.node */
  node: string;
  /** process.versions.modules: the ABI a native addon must be built for. */
  abi: number;
  platform: string;
  arch: string;
  /** The glibc version on Linux; undefined elsewhere, and on Linux without glibc (musl). */
  glibc: string | undefined;
};

/** This process's runtime (the glibc version from its diagnostic report, on Linux only). */
export function currentRuntime(): Runtime {
  const report = process.platform === 'linux' ? process.report.getReport() : undefined;
  return {
    node: process.versions.node,
    abi: Number(process.versions.modules),
    platform: process.platform,
    arch: process.arch,
    glibc: (report as { header?: { glibcVersionRuntime?: string } } | undefined)?.header?.glibcVersionRuntime,
  };
}

export type UwsBuild = {
  packageName: string;
  uwsVersion: string;
  /** The native addon, relative to the package's folder. */
  file: string;
};

/** process.versions.modules of each Node major a package has binaries for. */
export const abiOfNode = { 20: 115, 22: 127, 24: 137, 25: 141 } as const;

type UwsPackage = {
  name: string;
  uwsVersion: string;
  /** The folder of its .node files, relative to the package's. */
  binaries: string;
  /** The Node majors PyTake takes from it. */
  nodes: readonly (keyof typeof abiOfNode)[];
  /** `${platform}_${arch}` */
  targets: readonly string[];
  glibc: string;
};

/**
 * What each pinned package ships (README "Runtimes" says why these two); the first that loads wins.
 * v20.30 comes first although older: it is the build the test suite runs on, and v20.56 drops a few
 * WebSocket connections right after their upgrade (README "Runtimes"), so it serves only the Nodes
 * v20.30 has no binary for (its Node 20 binary is left unused). `glibc` is the highest GLIBC_ symbol version its Linux binaries need.
 */
export const uwsPackages: readonly UwsPackage[] = [
  {
    name: '@trufflesuite/uws-js-unofficial',
    uwsVersion: '20.30.0',
    binaries: 'binaries/',
    nodes: [20],
    targets: ['linux_x64', 'linux_arm64', 'linux_arm', 'darwin_x64', 'darwin_arm64', 'win32_x64'],
    glibc: '2.28',
  },
  {
    name: '@btc-vision/uwebsockets.js',
    uwsVersion: '20.56.0',
    binaries: '',
    nodes: [22, 24, 25],
    targets: ['linux_x64', 'linux_arm64', 'darwin_x64', 'darwin_arm64', 'win32_x64'],
    glibc: '2.38',
  },
];

export function chooseUwsBuild(runtime: Runtime): UwsBuild | { refused: string } {
  const target = `${runtime.platform}_${runtime.arch}`;
  const candidates = uwsPackages.filter((pkg) => pkg.targets.includes(target));
  const loadsHere = (pkg: UwsPackage) =>
    runtime.platform !== 'linux' || (runtime.glibc !== undefined && atLeast(runtime.glibc, pkg.glibc));
  const chosen = candidates.find(
    (pkg) => pkg.nodes.some((major) => abiOfNode[major] === runtime.abi) && loadsHere(pkg),
  );
  if (chosen) {
    return {
      packageName: chosen.name,
      uwsVersion: chosen.uwsVersion,
      file: `${chosen.binaries}uws_${target}_${runtime.abi}.node`,
    };
  }
  const libc =
    runtime.platform !== 'linux' ? '' : runtime.glibc ? ` with glibc ${runtime.glibc}` : ' without glibc';
  const where = `Node ${runtime.node} (ABI ${runtime.abi}) on ${runtime.platform} ${runtime.arch}${libc}`;
  return { refused: `${where} has no native uWebSockets.js build; ${advice(candidates, loadsHere)}` };
}

/** "use Node 20 on this system, or Node 22, 24 or 25 on a system with glibc ≥ 2.38" */
function advice(candidates: readonly UwsPackage[], loadsHere: (pkg: UwsPackage) => boolean): string {
  if (candidates.length === 0) return 'uWebSockets.js has no build for this platform';
  const offered = new Set<number>();
  const majorsOf = (packages: readonly UwsPackage[]) => {
    const majors = packages.flatMap((pkg) => pkg.nodes).filter((major) => !offered.has(major));
    for (const major of majors) offered.add(major);
    return [...new Set(majors)].sort((a, b) => a - b);
  };
  const parts: string[] = [];
  const here = majorsOf(candidates.filter(loadsHere));
  if (here.length > 0) parts.push(`Node ${listed(here)} on this system`);
  const elsewhere = candidates
    .filter((pkg) => !loadsHere(pkg))
    .sort((a, b) => compareVersions(a.glibc, b.glibc));
  for (const pkg of elsewhere) {
    const majors = majorsOf([pkg]);
    if (majors.length > 0) parts.push(`Node ${listed(majors)} on a system with glibc ≥ ${pkg.glibc}`);
  }
  return `use ${parts.join(', or ')}`;
}

function listed(majors: readonly number[]): string {
  return majors.length === 1 ? String(majors[0]) : `${majors.slice(0, -1).join(', ')} or ${majors.at(-1)}`;
}

const atLeast = (version: string, minimum: string) => compareVersions(version, minimum) >= 0;

/** Dotted versions compared numerically: 2.38 comes after 2.4. */
function compareVersions(a: string, b: string): number {
  const left = a.split('.').map(Number);
  const right = b.split('.').map(Number);
  for (let i = 0; i < Math.max(left.length, right.length); i += 1) {
    const difference = (left[i] ?? 0) - (right[i] ?? 0);
    if (difference !== 0) return difference;
  }
  return 0;
}
