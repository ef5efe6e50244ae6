"""Closed triangle surfaces: the boundaries between conductivity compartments.

A :class:`TriangleSurface` holds vertices in metres (SI, as everywhere in the physics core; see
:mod:`napari_rat_tms.core.conventions`) and faces as vertex indices. Faces are wound
counter-clockwise seen from outside, so that the right-hand normal points outwards; the checks in
:mod:`napari_rat_tms.core.meshes.checks` verify that and can fix it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from ..conventions import mm_to_m

__all__ = ["TriangleSurface"]


@dataclass(frozen=True, eq=False)
class TriangleSurface:
    """A triangle mesh in metres.

    Parameters
    ----------
    vertices_m : (N, 3) float array
        Vertex positions in metres.
    faces : (M, 3) int array
        Vertex indices of each triangle, counter-clockwise seen from outside.
    name : str
        What the surface is (``"body"``, ``"skull"``, ``"eye_left"``); shown in messages.
    """

    vertices_m: np.ndarray
    faces: np.ndarray
    name: str = "surface"

    def __post_init__(self):
        vertices = np.ascontiguousarray(self.vertices_m, dtype=np.float64)
        faces = np.ascontiguousarray(self.faces, dtype=np.int64)
        if vertices.ndim != 2 or vertices.shape[1] != 3:
            raise ValueError(f"vertices_m of {self.name!r} must have shape (N, 3), got {vertices.shape}")
        if faces.ndim != 2 or faces.shape[1] != 3:
            raise ValueError(f"faces of {self.name!r} must have shape (M, 3), got {faces.shape}")
        if not np.all(np.isfinite(vertices)):
            raise ValueError(f"vertices_m of {self.name!r} contain NaN or infinite values")
        if faces.size and (faces.min() < 0 or faces.max() >= len(vertices)):
            raise ValueError(f"faces of {self.name!r} refer to vertices that do not exist")
        vertices.setflags(write=False)
        faces.setflags(write=False)
        object.__setattr__(self, "vertices_m", vertices)
        object.__setattr__(self, "faces", faces)

    @classmethod
    def from_mm(cls, vertices_mm, faces, name: str = "surface") -> TriangleSurface:
        """A surface from vertices in millimetres (the viewer's unit)."""
        return cls(mm_to_m(vertices_mm), faces, name)

    @property
    def n_vertices(self) -> int:
        return len(self.vertices_m)

    @property
    def n_faces(self) -> int:
        return len(self.faces)

    @cached_property
    def _face_cross(self) -> np.ndarray:
        v = self.vertices_m[self.faces]
        return np.cross(v[:, 1] - v[:, 0], v[:, 2] - v[:, 0])

    @cached_property
    def face_areas_m2(self) -> np.ndarray:
        """Area of each triangle (m^2)."""
        return 0.5 * np.linalg.norm(self._face_cross, axis=1)

    @cached_property
    def face_normals(self) -> np.ndarray:
        """Unit normal of each triangle (right-hand rule; outward for a correctly wound surface)."""
        norms = np.linalg.norm(self._face_cross, axis=1, keepdims=True)
        return self._face_cross / np.where(norms > 0, norms, 1.0)

    @cached_property
    def face_centroids_m(self) -> np.ndarray:
        return self.vertices_m[self.faces].mean(axis=1)

    @cached_property
    def vertex_normals(self) -> np.ndarray:
        """Area-weighted unit normal at each vertex."""
        acc = np.zeros_like(self.vertices_m)
        for k in range(3):
            np.add.at(acc, self.faces[:, k], self._face_cross)
        norms = np.linalg.norm(acc, axis=1, keepdims=True)
        return acc / np.where(norms > 0, norms, 1.0)

    @cached_property
    def vertex_areas_m2(self) -> np.ndarray:
        """One third of the area of the triangles around each vertex (m^2)."""
        acc = np.zeros(self.n_vertices)
        for k in range(3):
            np.add.at(acc, self.faces[:, k], self.face_areas_m2 / 3.0)
        return acc

    @cached_property
    def edges(self) -> np.ndarray:
        """Unique undirected edges, (E, 2) sorted vertex pairs."""
        e = np.concatenate([self.faces[:, [0, 1]], self.faces[:, [1, 2]], self.faces[:, [2, 0]]])
        return np.unique(np.sort(e, axis=1), axis=0)

    @cached_property
    def mean_edge_length_m(self) -> float:
        e = self.edges
        if len(e) == 0:
            return 0.0
        return float(np.linalg.norm(self.vertices_m[e[:, 0]] - self.vertices_m[e[:, 1]], axis=1).mean())

    @cached_property
    def corner_angles_deg(self) -> np.ndarray:
        """The three interior angles of each triangle, (F, 3) in degrees (mesh quality: a BEM wants
        none small; marching cubes gives 1-5 degrees, an isotropic remesher above 20)."""
        out = np.empty((self.n_faces, 3))
        for k in range(3):
            a = self.vertices_m[self.faces[:, k]]
            u = self.vertices_m[self.faces[:, (k + 1) % 3]] - a
            w = self.vertices_m[self.faces[:, (k + 2) % 3]] - a
            cos = np.einsum("ij,ij->i", u, w) / np.maximum(
                np.linalg.norm(u, axis=1) * np.linalg.norm(w, axis=1), 1e-300)
            out[:, k] = np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))
        return out

    @cached_property
    def enclosed_volume_m3(self) -> float:
        """Signed volume (divergence theorem); positive when the normals point outwards."""
        v = self.vertices_m[self.faces]
        return float(np.einsum("ij,ij->i", v[:, 0], np.cross(v[:, 1], v[:, 2])).sum() / 6.0)

    def flipped(self) -> TriangleSurface:
        """The same surface with every triangle's winding (and so its normal) reversed."""
        return TriangleSurface(self.vertices_m, self.faces[:, ::-1], self.name)

    def translated(self, offset_m) -> TriangleSurface:
        return TriangleSurface(self.vertices_m + np.asarray(offset_m, float), self.faces, self.name)

    def fingerprint(self) -> bytes:
        """Bytes that identify the geometry exactly (for cache keys)."""
        return self.vertices_m.tobytes() + b"|" + self.faces.tobytes()

    def to_trimesh(self):
        """A :class:`trimesh.Trimesh` view of the surface (no processing, no merging)."""
        import trimesh

        return trimesh.Trimesh(self.vertices_m, self.faces, process=False)
