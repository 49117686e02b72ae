from common.runtime import main
from services.guardian.service import GuardianService

main(GuardianService)
