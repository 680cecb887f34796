"""Rebuild the FaceMesh data files in this folder (run from the repository root).

    python -m nodes.face.data.build_face_data topology --mediapipe-wheel mediapipe-1.2.3-...whl
    python -m nodes.face.data.build_face_data mean-face

`topology` writes facemesh_topology.json from MediaPipe's own lists (Apache-2.0), read out of the
`FaceLandmarksConnections` class in mediapipe/tasks/python/vision/face_landmarker.py inside the PyPI
wheel (`pip download mediapipe --no-deps`; only the text of that file is read, nothing is run):
- triangles: FACE_LANDMARKS_TESSELATION lists each of the mesh's 852 triangles as three edges
  (a, b), (b, c), (c, a) in a row; each triple gives one triangle (a, b, c).
- contours: the LIPS, eye, eyebrow and FACE_OVAL edge lists chained into ordered loops/polylines.

`mean-face` writes mean_face.npy (468 x 3 float32), the frontal mean face used as the alignment
template and for head pose. The wheels on PyPI no longer carry MediaPipe's canonical_face_model.obj,
so it is measured: BlazeFace + FaceMesh run on the two portraits in presets/media and on their
mirror images (4 faces). The mirror pairing of the 468 points comes from the model itself (points
from a mirrored image, mirrored back, land on the partner points). Each face is turned to face the
camera by its plane of symmetry (yaw and roll removed, pitch kept as photographed), scaled to a
common size, averaged, and made exactly symmetric. The result is normalised like DeepFaceLab's
68-point mean face, so that DeepFaceLive's coverage values mean the same crops: outer brow ends at
x = 0 and 1, eye corners at y = 0.22; z is scaled like x (smaller z: nearer the camera).
"""

from __future__ import annotations

import argparse
import json
import re
import zipfile
from pathlib import Path

import cv2
import networkx as nx
import numpy as np

DATA_DIR = Path(__file__).resolve().parent
REPO = DATA_DIR.parents[2]
PORTRAITS = ("astronaut.png", "grace_hopper.jpg")
LANDMARKER_SOURCE = "mediapipe/tasks/python/vision/face_landmarker.py"
EYE_CORNER_Y = 0.22


def read_connections(wheel: Path) -> dict[str, list[tuple[int, int]]]:
    with zipfile.ZipFile(wheel) as archive:
        text = archive.read(LANDMARKER_SOURCE).decode()
    lists = {}
    for name, body in re.findall(r"(FACE_LANDMARKS_\w+): List\[Connection\] = \[(.*?)\]", text, re.S):
        lists[name] = [(int(a), int(b)) for a, b in re.findall(r"Connection\((\d+), (\d+)\)", body)]
    return lists


def chains(edges: list[tuple[int, int]]) -> list[list[int]]:
    """Edges -> their connected pieces as ordered vertex lists, each starting where MediaPipe's list
    starts it (a closed loop lists each vertex once)."""
    graph = nx.Graph(edges)
    first_seen = list(dict.fromkeys(v for edge in edges for v in edge))
    out = []
    for component in nx.connected_components(graph):
        sub = graph.subgraph(component)
        ends = [v for v in first_seen if v in component and sub.degree(v) == 1]
        start = ends[0] if ends else next(v for v in first_seen if v in component)
        out.append([int(v) for v in nx.dfs_preorder_nodes(sub, start)])
    return sorted(out, key=lambda chain: first_seen.index(chain[0]))


def build_topology(wheel: Path) -> dict:
    lists = read_connections(wheel)
    edges = np.array(lists["FACE_LANDMARKS_TESSELATION"]).reshape(-1, 3, 2)
    if not (
        np.all(edges[:, 0, 1] == edges[:, 1, 0])
        and np.all(edges[:, 1, 1] == edges[:, 2, 0])
        and np.all(edges[:, 2, 1] == edges[:, 0, 0])
    ):
        raise SystemExit("FACE_LANDMARKS_TESSELATION is no longer a list of edge triples: check the wheel")
    lips = chains(lists["FACE_LANDMARKS_LIPS"])  # the outer loop comes first in MediaPipe's list
    contours = {
        "lips_outer": lips[0],
        "lips_inner": lips[1],
        "right_eye": chains(lists["FACE_LANDMARKS_RIGHT_EYE"])[0],
        "left_eye": chains(lists["FACE_LANDMARKS_LEFT_EYE"])[0],
        "right_eyebrow": chains(lists["FACE_LANDMARKS_RIGHT_EYEBROW"]),
        "left_eyebrow": chains(lists["FACE_LANDMARKS_LEFT_EYEBROW"]),
        "face_oval": chains(lists["FACE_LANDMARKS_FACE_OVAL"])[0],
    }
    return {
        "source": f"{wheel.name}: {LANDMARKER_SOURCE}, class FaceLandmarksConnections (Apache-2.0)",
        "triangles": edges[:, :, 0].tolist(),
        "contours": contours,
    }


def _portrait_faces():
    """FaceMesh landmarks (468 x 3) of each portrait and of its mirror image mirrored back, with the
    index of the mirrored image's points (pairs[k] is the face that `mirrored[k]` came from)."""
    from nodes.face.blazeface import BlazeFace
    from nodes.face.facemesh import FaceMesh

    detector, mesh = BlazeFace(model="full"), FaceMesh()
    originals, mirrored = [], []
    for name in PORTRAITS:
        image = cv2.imread(str(REPO / "presets" / "media" / name))
        for flip in (False, True):
            frame = cv2.flip(image, 1) if flip else image
            (face,) = detector.detect(frame, max_faces=1)
            points, _ = mesh.landmarks(frame, face["box"], face["keypoints"])
            points = points.astype(np.float64)
            if flip:
                points[:, 0] = frame.shape[1] - points[:, 0]
                mirrored.append(points)
            else:
                originals.append(points)
    return originals, mirrored


def mirror_pairs(originals, mirrored, triangles) -> np.ndarray:
    """pairs[i]: the landmark on the other side of the face from landmark i (itself on the midline).

    Points from the mirror image, mirrored back, fall near their partners, but the mesh is too dense
    near the lips and eyes for nearest neighbours alone. So only clear mutual nearest neighbours seed
    the pairing; it then grows over the mesh (a partner must neighbour the partners of one's
    neighbours, most votes first, then nearest), and is checked to map the mesh's edges onto edges."""
    cost = np.zeros((468, 468))
    for face, back in zip(originals, mirrored, strict=True):
        size = np.sqrt(((face[:, :2] - face[:, :2].mean(0)) ** 2).sum(1).mean())
        cost += np.linalg.norm(back[:, None, :] - face[None, :, :], axis=2) / size
    neighbours = [set() for _ in range(468)]
    for a, b, c in triangles:
        neighbours[a] |= {b, c}
        neighbours[b] |= {a, c}
        neighbours[c] |= {a, b}
    pairs = np.full(468, -1)
    nearest = cost.argmin(axis=1)
    ranked = np.sort(cost, axis=1)
    clarity = ranked[:, 1] / np.maximum(ranked[:, 0], 1e-12)
    for i in np.argsort(-clarity):
        j = nearest[i]
        if clarity[i] > 2.0 and nearest[j] == i and pairs[i] < 0 and pairs[j] < 0:
            pairs[i], pairs[j] = j, i
    while (pairs < 0).any():
        candidates = []
        for i in np.nonzero(pairs < 0)[0]:
            votes: dict[int, int] = {}
            for n in neighbours[i]:
                if pairs[n] >= 0:
                    for j in neighbours[pairs[n]] | {pairs[n]}:
                        if pairs[j] < 0:
                            votes[j] = votes.get(j, 0) + 1
            candidates += [(-v, cost[i, j], i, j) for j, v in votes.items()]
        if not candidates:
            raise SystemExit("the mirror pairing could not reach every landmark: look at the portraits")
        _, _, i, j = min(candidates)
        pairs[i], pairs[j] = j, i
    edges = {tuple(sorted(e)) for t in triangles for e in ((t[0], t[1]), (t[1], t[2]), (t[2], t[0]))}
    kept = sum(tuple(sorted((pairs[a], pairs[b]))) in edges for a, b in edges)
    if kept < 0.98 * len(edges):
        raise SystemExit(f"the mirror pairing maps only {kept} of {len(edges)} mesh edges onto edges")
    return pairs


def frontal(points: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """The face turned to look straight at the camera (its symmetry plane made vertical and facing
    the camera), centred, and scaled to unit RMS radius in x, y."""
    centred = points - points.mean(axis=0)
    across = centred - centred[pairs]
    normal = np.linalg.eigh(across.T @ across)[1][:, -1]
    normal *= np.sign(normal[0])
    down = np.array([0.0, 1.0, 0.0]) - normal[1] * normal
    down /= np.linalg.norm(down)
    axes = np.stack([normal, down, np.cross(normal, down)])
    turned = centred @ axes.T
    return turned / np.sqrt((turned[:, :2] ** 2).sum(1).mean())


def build_mean_face() -> np.ndarray:
    from nodes.face import landmarks_data as lm

    originals, mirrored = _portrait_faces()
    pairs = mirror_pairs(originals, mirrored, lm.TRIANGLES.tolist())
    # a mirrored-back point i sits where its partner pairs[i] is: reindex to get the face again
    faces = [frontal(p, pairs) for p in originals + [back[pairs] for back in mirrored]]
    mean = np.mean(faces, axis=0)
    reflected = mean[pairs] * np.array([-1.0, 1.0, 1.0])
    mean = (mean + reflected) / 2
    brows = list(lm.RIGHT_EYEBROW + lm.LEFT_EYEBROW)
    corners = [lm.RIGHT_EYE_OUTER, lm.RIGHT_EYE_INNER, lm.LEFT_EYE_INNER, lm.LEFT_EYE_OUTER]
    scale = 1.0 / np.ptp(mean[brows, 0])
    mean = mean * scale
    mean[:, 0] += 0.5 - (mean[brows, 0].min() + mean[brows, 0].max()) / 2
    mean[:, 1] += EYE_CORNER_Y - mean[corners, 1].mean()
    mean[:, 2] -= mean[:, 2].mean()
    return mean.astype(np.float32)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["topology", "mean-face"])
    parser.add_argument("--mediapipe-wheel", type=Path, help="the mediapipe wheel (for topology)")
    args = parser.parse_args(argv)
    topology_path = DATA_DIR / "facemesh_topology.json"
    if args.what == "topology":
        if args.mediapipe_wheel is None or not args.mediapipe_wheel.is_file():
            parser.error("topology needs --mediapipe-wheel PATH (pip download mediapipe --no-deps)")
        topology_path.write_text(json.dumps(build_topology(args.mediapipe_wheel), separators=(",", ":")))
        print(f"wrote {topology_path}")
    else:
        mean = build_mean_face()
        np.save(DATA_DIR / "mean_face.npy", mean)
        print(f"wrote {DATA_DIR / 'mean_face.npy'}")


if __name__ == "__main__":
    main()
