from common.runtime import main
from services.risk.service import RiskService

main(RiskService)
