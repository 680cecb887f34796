"""What FaceFusion's swappers that take a converted identity share (SimSwap, GHOST, HiFiFace): the
`converter` param, its check and session, and the portrait's ArcFace embedding mapped through it into the
identity space the swapper was trained with (FaceFusion's crossface_* models, `input` -> `output`)."""

from __future__ import annotations

import numpy as np

from nodegraph.onnx import create_session
from nodegraph.params import Model

from .embedding_swap import EmbeddingSwapper, swapper_params
from .model_fit import checked_model, converter_fit
from .onnx_models import loading, resolve_model


def converted_swapper_params(model: str, masks: list[str], model_help: str, converter: str, family: str) -> dict:
    return {
        **swapper_params(model, masks, model_help),
        "converter": Model(converter, help=f"the embedding converter from ArcFace to {family}'s identity space"),
    }


class ConvertedSwapper(EmbeddingSwapper):
    """Base of the swappers whose `source` is the portrait's embedding through an embedding converter."""

    @classmethod
    def check(cls, params, base_dir):
        problems = super().check(params, base_dir)
        checked_model(problems, "converter", params["converter"], base_dir, converter_fit)
        return problems

    def _load_models(self):
        super()._load_models()
        path = resolve_model(self.converter, self.base_dir, f"{self.where}, param 'converter'")
        with loading(f"{self.where}, param 'converter'"):
            converter = create_session(path, provider=self.provider, label=f"{self.id} (converter)")
            converter_fit(path, converter)
        self.converter_session, self.converter_path = converter, path

    def _converted(self, embedding: np.ndarray) -> np.ndarray:
        """The embedding through the converter, as a [1, 512] float32 row (not normalised)."""
        return self.converter_session.run(None, {"input": embedding.reshape(1, -1)})[0].reshape(1, -1)

    @property
    def _source_what(self) -> str:
        return f"node '{self.id}': {self.converter_path} (of the embedding by {self.recogniser_model.path})"
