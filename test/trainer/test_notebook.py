"""Protects the notebook helper: an analysis file becomes a cell output under the renderer's MIME type, with a text table beside it, and a file that is not an analysis is refused naming it."""  # noqa: E501 (the one line saying what the file protects)

import json
import os
import sys
import tempfile
import types
import unittest

import helpers  # noqa: F401 (puts media/trainer on sys.path)
from notebook import MIME, analysis_bundle, show_analysis

ANALYSIS = {
    "schema": "attention-reuse/analysis@1",
    "model": {"path": "/models/tiny.onnx", "sha256": "0" * 64},
    "run": {"examples": 3, "tokens": 21, "executionProvider": "cpu", "precision": "float32", "seconds": 0.5},
    "stacks": [{"name": "encoder", "kind": "self", "layerCount": 2, "headCount": 1, "layerPairs": [[1, 0.5], [0.5, 1]]}],
}


class NotebookTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.path = os.path.join(self.tmp.name, "tiny.analysis.json")
        with open(self.path, "w", encoding="utf-8") as f:
            json.dump(ANALYSIS, f)

    def tearDown(self):
        self.tmp.cleanup()

    def test_bundle_carries_the_file_under_the_renderers_mime_type(self):
        bundle = analysis_bundle(self.path)
        self.assertEqual(MIME, "application/vnd.attention-reuse.analysis+json", "package.json's notebookRenderer names this type")
        self.assertEqual(bundle[MIME], ANALYSIS, "the renderer reads the analysis file as it is")
        self.assertIn("3 examples, 21 tokens", bundle["text/plain"])
        self.assertIn(" 0.50", bundle["text/plain"], "the text table holds the layer-pair values")

    def test_show_analysis_displays_the_bundle_raw(self):
        shown = []
        display = types.ModuleType("IPython.display")
        display.display = lambda obj, raw=False: shown.append((obj, raw))
        sys.modules["IPython"] = types.ModuleType("IPython")
        sys.modules["IPython.display"] = display
        try:
            show_analysis(self.path)
        finally:
            del sys.modules["IPython"], sys.modules["IPython.display"]
        self.assertEqual(len(shown), 1)
        self.assertTrue(shown[0][1], "a MIME bundle is displayed with raw=True")
        self.assertIn(MIME, shown[0][0])

    def test_refuses_what_is_not_an_analysis_naming_the_file(self):
        other = os.path.join(self.tmp.name, "config.json")
        for content in ('{"schema": "attention-reuse/config@1"}', "not json", "[]"):
            with open(other, "w", encoding="utf-8") as f:
                f.write(content)
            with self.assertRaisesRegex(ValueError, "config.json"):
                analysis_bundle(other)


if __name__ == "__main__":
    unittest.main()
