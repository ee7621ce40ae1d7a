"""External tensor data: a shared model re-saved with its weights in a side file runs in ptq and
matches onnxruntime bit for bit; `ptq convert` of it writes a self-contained model; a location
that escapes the model's folder, a missing side file and a side file that is too short are
rejected with a clear error."""
import os
import shutil
import sys
import tempfile

import numpy as np
import onnx
from onnx import numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import oracle_common as oc  # noqa: E402


def main():
    args = oc.parse_args(__doc__)
    tmp = tempfile.mkdtemp(prefix="ptq-extdata-")
    failures = []
    rows = []
    try:
        src = oc.model_path(args, "resnet8-cifar10.onnx")
        model = onnx.load(src)
        ext = os.path.join(tmp, "resnet8_ext.onnx")
        onnx.save_model(model, ext, save_as_external_data=True, all_tensors_to_one_file=True,
                        location="resnet8_ext.data", size_threshold=0)
        x = np.load(os.path.join(args.shared, "data/cifar10/test-images.npy"))[:1].astype(np.float32)
        xin = os.path.join(tmp, "x.npy")
        np.save(xin, x)
        ref = list(oc.ort_run(oc.ort_session(src), {"t0_input_1": x}).values())[0]

        def run_case(name, model_file, expect_ok, keyword=None):
            out = os.path.join(tmp, "out_" + name)
            r = oc.run_ptq(args, ["run", model_file, "--input", "t0_input_1=" + xin, "--out", out])
            if expect_ok:
                ok = r.rc == 0
                if ok:
                    got = np.load(os.path.join(out, os.listdir(out)[0]))
                    # same tolerance as test_models: 1e-4 of the output's largest magnitude
                    ok = got.shape == ref.shape and \
                        np.max(np.abs(got - ref)) <= 1e-4 * max(1e-30, np.max(np.abs(ref)))
                rows.append([name, r.rc, "PASS" if ok else "FAIL", r.brief() if r.rc else ""])
            else:
                ok = r.rc == 1 and keyword in r.stderr and "AddressSanitizer" not in r.stderr
                rows.append([name, r.rc, "PASS" if ok else "FAIL", r.brief()])
            if not ok:
                failures.append(name)

        run_case("external-data-runs", ext, True)
        conv = os.path.join(tmp, "converted.onnx")
        r = oc.run_ptq(args, ["convert", ext, "-o", conv, "--no-optimize"])
        ok = r.rc == 0 and all(not t.external_data for t in onnx.load(conv, load_external_data=False).graph.initializer)
        rows.append(["convert-inlines-data", r.rc, "PASS" if ok else "FAIL", r.brief() if r.rc else ""])
        if not ok:
            failures.append("convert-inlines-data")
        if ok:
            run_case("converted-runs", conv, True)

        # location escaping the folder
        m2 = onnx.load(ext, load_external_data=False)
        for t in m2.graph.initializer:
            for kv in t.external_data:
                if kv.key == "location":
                    kv.value = "../resnet8_ext.data"
        bad = os.path.join(tmp, "sub")
        os.makedirs(bad)
        onnx.save_model(m2, os.path.join(bad, "escape.onnx"))
        run_case("location-escapes-folder", os.path.join(bad, "escape.onnx"), False, "inside the model's directory")

        # missing side file
        m3 = onnx.load(ext, load_external_data=False)
        onnx.save_model(m3, os.path.join(bad, "missing.onnx"))
        run_case("side-file-missing", os.path.join(bad, "missing.onnx"), False, "cannot open external data file")

        # truncated side file
        shutil.copy(ext, os.path.join(bad, "short.onnx"))
        with open(os.path.join(tmp, "resnet8_ext.data"), "rb") as f:
            data = f.read()
        m4 = onnx.load(ext, load_external_data=False)
        for t in m4.graph.initializer:
            for kv in t.external_data:
                if kv.key == "location":
                    kv.value = "short.data"
        onnx.save_model(m4, os.path.join(bad, "short.onnx"))
        with open(os.path.join(bad, "short.data"), "wb") as f:
            f.write(data[: len(data) // 2])
        run_case("side-file-truncated", os.path.join(bad, "short.onnx"), False, "shorter than")
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    oc.print_table(["case", "exit", "result", "message"], rows)
    print("%d case(s), %d failed" % (len(rows), len(failures)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
