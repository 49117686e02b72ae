from common.runtime import main
from services.marketdata.service import MarketDataService

main(MarketDataService)
