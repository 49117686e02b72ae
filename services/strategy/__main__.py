from common.runtime import main
from services.strategy.service import StrategyService

main(StrategyService)
