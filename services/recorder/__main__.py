from common.runtime import main
from services.recorder.service import RecorderService

main(RecorderService)
