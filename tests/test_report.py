"""The course report (the smoke pass and `make gpu-report` use it): train_vqgan timing and the markdown table."""
from course_lib import report


def test_time_vqgan_and_markdown(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_OFFLINE", "1")
    v = report.time_vqgan("quick", 2, tmp_path)
    assert v["error"] is None and v["steps"] == 2 and v["images_per_second"] > 0
    rows = [{"notebook": "04_vqvae", "seconds": 12.3, "error": None, "peak_rss_mib": 900.0, "peak_cuda_mib": None,
             "claims": [{"held": True, "message": "NMSE 0.09 < 0.3 x 0.68", "asserted": True},
                        {"held": False, "message": "x < y", "asserted": False}]},
            {"notebook": "11_vqgan", "seconds": 40.0, "error": "ClaimFailed: boom", "peak_rss_mib": None,
             "peak_cuda_mib": 1500.0, "claims": []}]
    md = report.markdown({"environment": {"profile": "standard", "smoke": True}, "machine": {"torch": "2"},
                          "notebooks": rows, "train_vqgan": v})
    assert "| 04_vqvae | 12 | 900 | - | 0 | 0.0 | 1/2 | ok |" in md
    assert "| 11_vqgan | 40 | - | 1500 | 0 | 0.0 | 0/0 | FAILED: ClaimFailed: boom |" in md
    assert "does NOT hold: x < y" in md and "images/s" in md and "smoke" in md
