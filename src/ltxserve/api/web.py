"""The workbench page at `/` and its assets under `/web/`, all shipped in the package (nothing is
loaded from elsewhere: it works on a machine without internet)."""

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

PAGE = Path(__file__).resolve().parents[1] / "web"
ASSETS = StaticFiles(directory=PAGE)
router = APIRouter(include_in_schema=False)


@router.get("/")
async def workbench() -> FileResponse:
    return FileResponse(PAGE / "index.html", headers={"Cache-Control": "no-cache"})
