"""Vector indexes: Qdrant Edge (embedded default) and Qdrant server, behind `VectorIndex`."""

from llmcache.shared.index.base import Candidate, IndexPoint, PointPayload, PointSelector, VectorIndex, point_id_for

__all__ = ["Candidate", "IndexPoint", "PointPayload", "PointSelector", "VectorIndex", "point_id_for"]
